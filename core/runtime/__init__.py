"""The machinery under every step: the MLX worker thread, the engine facade, events,
errors in people's words, paths and settings, the write rule, BLAS, the log, the
environment check and the memory-fit verdict."""
