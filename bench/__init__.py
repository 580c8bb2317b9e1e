"""TuneDeck's benchmark suite: ``python -m bench [--quick] [--only NAME] [--json OUT]``.

Every figure is a ratio against raw mlx-lm measured in the same run, with
the two sides interleaved (and fresh processes for each training run) so a
noisy machine shifts both alike. See docs/benchmarks.md.
"""
