"""The Data screen's four tabs, one widget each (source, map, split, check).

Each tab owns its inputs and their handlers and posts a ``Message`` for what
needs the engine or the session; ``tui.screens.dataset`` turns those into jobs.
"""
