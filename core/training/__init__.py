"""LoRA training: its settings (the YAML mlx-lm also reads), the run on the worker,
run folders, batching and the measured memory probe."""
