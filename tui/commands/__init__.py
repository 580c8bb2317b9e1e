"""Headless ``tunedeck`` subcommands, one module per area.

Each module has ``register(subparsers)``, which adds its parsers and sets
``func`` (called with the parsed args, returns the exit code). Heavy
imports stay inside the functions so ``tunedeck --help`` is instant.
"""

from tui.commands import chat, data, doctor, models, ship, train

AREAS = (doctor, models, data, train, chat, ship)
