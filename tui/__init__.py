"""TuneDeck's terminal UI (Textual) and command line.

Import hygiene: nothing here imports mlx, mlx_lm, datasets or plotext at
module level (a test checks ``sys.modules``), so the first screen paints
before any of those heavy libraries has loaded.
"""
