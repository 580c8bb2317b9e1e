"""The app's small persistent settings (first-run flag, theme, endpoint,
LM Studio's models folder as chosen on the Judge screen, where runs train
as the Train screen's hosts setting last started one, the user's keymap:
binding id -> keys, edited by hand)."""

from __future__ import annotations

import json

from core.runtime import paths
from core.runtime.atomic import write_json

DEFAULTS = {
    "first_run_done": False,
    "theme": "tunedeck-dark",
    "hf_endpoint": None,
    "lmstudio_models_dir": None,
    "hosts": None,  # {"hosts": "", "per_host": 1, "backend": None}: the Config tab's hosts row
    "keymap": {},
}


def load() -> dict:
    try:
        data = json.loads(paths.config_file().read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            data = {}
    except (OSError, ValueError):
        data = {}  # a missing or corrupt config must never stop the app
    return {**DEFAULTS, **data}


def save(config: dict) -> None:
    write_json(paths.config_file(), config)


def update(**changes) -> dict:
    config = load()
    config.update(changes)
    save(config)
    return config
