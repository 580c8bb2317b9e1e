"""Ship a fused model into an LM Studio models folder.

LM Studio finds MLX models laid out as ``<root>/<publisher>/<name>/`` (the
model folder's files directly inside); the root is ``~/.lmstudio/models``
unless ``LMSTUDIO_MODELS_DIR`` or the app config's ``lmstudio_models_dir``
says otherwise. The copy is written under a temp name and renamed.
GGUF files are written by ``core.gguf_export``.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from core.atomic import atomic_dir
from core.errors import TuneDeckError
from core.model_folder import check_model_folder

DEFAULT_PUBLISHER = "tunedeck"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def lmstudio_root(root: str | Path | None = None) -> Path:
    """The LM Studio models folder: argument > env > app config > default."""
    if root:
        return Path(root).expanduser()
    if os.environ.get("LMSTUDIO_MODELS_DIR"):
        return Path(os.environ["LMSTUDIO_MODELS_DIR"]).expanduser()
    from core import config

    configured = config.load().get("lmstudio_models_dir")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".lmstudio" / "models"


def _check_fused(folder: str | Path) -> Path:
    folder = Path(folder)
    if folder.is_dir() and (folder / "adapters.safetensors").is_file():
        raise TuneDeckError(f"{folder} is an adapter, not a model",
                            "fuse it first (`tunedeck fuse --model BASE --adapter A --out DIR`), then export DIR")
    return check_model_folder(folder)


def _check_name(what: str, value: str) -> str:
    if not _NAME.match(value or ""):
        raise TuneDeckError(f"{what} {value!r} cannot be a folder name",
                            "use letters, digits, '.', '_' and '-' only (no slashes or spaces)")
    return value


def default_name(fused: str | Path) -> str:
    """A fused model's export name: its run folder's name for ``<run>/fused``
    (every run's fused folder is called ``fused``), else the folder's own."""
    from core.runs import is_run_dir

    folder = Path(fused).resolve()
    if folder.name == "fused" and is_run_dir(folder.parent):
        return folder.parent.name
    return folder.name


def export_lmstudio(ctx, fused: str, root: str | None = None, publisher: str = DEFAULT_PUBLISHER,
                    name: str | None = None) -> dict:
    source = _check_fused(fused)
    name = _check_name("name", name or default_name(source))
    publisher = _check_name("publisher", publisher)
    target = lmstudio_root(root) / publisher / name
    if target.exists():
        raise TuneDeckError(f"{target} already exists",
                            "pick another name (--name), or delete the old export in LM Studio first")
    files = [p for p in source.iterdir() if p.is_file() and not p.name.startswith(".")]
    with atomic_dir(target) as tmp:
        for i, path in enumerate(files):
            ctx.progress(f"copying {path.name}", i, len(files))
            ctx.check_cancelled()
            shutil.copy2(path, tmp / path.name)
    ctx.progress("copied", len(files), len(files))
    return {"path": str(target), "files": len(files)}
