"""TuneDeck's engine: everything but the UI.

Nothing here imports Textual, and no module on the UI's import path imports
MLX, mlx-lm or datasets at module level: those load lazily on the MLX worker
thread (see ``core.runtime.worker``), so the first screen paints fast.
"""
