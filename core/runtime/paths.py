"""Where TuneDeck keeps its things: one home folder, overridable for tests."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """``$TUNEDECK_HOME`` or ``~/.tunedeck``."""
    return Path(os.environ.get("TUNEDECK_HOME") or Path.home() / ".tunedeck").expanduser()


def models_dir() -> Path:
    return home() / "models"


def data_dir() -> Path:
    return home() / "data"


def runs_dir() -> Path:
    return home() / "runs"


def logs_dir() -> Path:
    return home() / "logs"


def config_file() -> Path:
    return home() / "config.json"


def demo_model_dir() -> Path:
    return models_dir() / "tunedeck-demo"


def sample_data_dir() -> Path:
    return data_dir() / "sample-sql"
