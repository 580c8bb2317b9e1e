"""Training rows from any source into a checked mlx-lm data folder."""
