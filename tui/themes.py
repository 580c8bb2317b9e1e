"""Themes as YAML files in ``themes/``, turned into Textual ``Theme``s.

A broken file is skipped with a readable reason (shown once as a notice);
the app then falls back to the built-in default.
"""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path

from textual.theme import Theme

FALLBACK = "textual-dark"
_THEME_FIELDS = {f.name for f in fields(Theme)}


def themes_dir() -> Path:
    override = os.environ.get("TUNEDECK_THEMES_DIR")  # your own theme folder
    if override:
        return Path(override).expanduser()
    # Source checkout / editable install: ``themes/`` beside ``tui/``.
    here = Path(__file__).resolve().parent.parent / "themes"
    if here.is_dir():
        return here
    from importlib.resources import files  # installed wheel: the ``themes`` package

    return Path(str(files("themes")))


def load_theme(path: Path) -> Theme:
    """Parse one theme file; raises ValueError with a readable reason."""
    import yaml  # deferred: ~8 ms that `import tui.app` need not pay

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path.name}: cannot read ({exc})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path.name}:{mark.line + 1}" if mark else path.name
        raise ValueError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path.name}: expected a mapping of theme fields")
    unknown = sorted(set(data) - _THEME_FIELDS)
    if unknown:
        raise ValueError(f"{path.name}: unknown key(s) {', '.join(unknown)}")
    if not data.get("name") or not data.get("primary"):
        raise ValueError(f"{path.name}: 'name' and 'primary' are required")
    try:
        theme = Theme(**data)
        # Colours are parsed lazily by Textual; parse them now so a typo is caught here.
        theme.to_color_system()
    except Exception as exc:
        raise ValueError(f"{path.name}: {exc}") from exc
    return theme


def load_themes(folder: Path | None = None) -> tuple[list[Theme], list[str]]:
    """All themes in ``folder`` and a list of problems (one line each)."""
    folder = folder or themes_dir()
    themes, problems = [], []
    if not folder.is_dir():
        return themes, [f"theme folder {folder} not found"]
    for path in sorted(folder.glob("*.y*ml")):
        try:
            themes.append(load_theme(path))
        except ValueError as exc:
            problems.append(str(exc))
    return themes, problems
