"""Ship a fused model into an LM Studio models folder.

LM Studio finds MLX models laid out as ``<root>/<publisher>/<name>/`` (the
model folder's files directly inside); the root is ``~/.lmstudio/models``
unless ``LMSTUDIO_MODELS_DIR`` or the app config's ``lmstudio_models_dir``
says otherwise (the Judge screen's ``o`` key chooses and remembers it). The
copy is written under a temp name and renamed. A fused model that no longer
matches its run's adapter (``core.shipping.provenance.check_fused``: the run was
resumed after the fuse) is refused, so a stale model is never shipped
silently; ``allow_stale`` is the explicit request to ship it anyway.
GGUF files are written by ``core.shipping.gguf``.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from core.models.model_folder import check_model_folder
from core.runtime import app_config
from core.runtime.errors import TuneDeckError
from core.runtime.targets import LMSTUDIO_EXPORT, check_name, claim, write_folder
from core.shipping.provenance import check_fused
from core.training.run_folders import is_run_dir

DEFAULT_PUBLISHER = "tunedeck"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class ExportResult:
    path: str  # the model's folder in LM Studio's models folder
    files: int  # how many files were copied


def lmstudio_root(root: str | Path | None = None) -> Path:
    """The LM Studio models folder: argument > env > app config > default."""
    if root:
        return Path(root).expanduser()
    if os.environ.get("LMSTUDIO_MODELS_DIR"):
        return Path(os.environ["LMSTUDIO_MODELS_DIR"]).expanduser()

    configured = app_config.load().get("lmstudio_models_dir")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".lmstudio" / "models"


def check_lmstudio_root(text: str | Path) -> Path:
    """A models folder the user chose: it must exist, be a folder and be writable."""
    if not str(text).strip():
        raise TuneDeckError(
            "no folder given", "type the folder LM Studio keeps its models in (LM Studio shows it under My Models)"
        )
    root = Path(str(text).strip()).expanduser().absolute()
    if not root.exists():
        raise TuneDeckError(
            f"{root} does not exist",
            "choose LM Studio's models folder (LM Studio shows it under My Models), or create the folder first",
        )
    if not root.is_dir():
        raise TuneDeckError(f"{root} is a file, not a folder", "choose the folder LM Studio keeps its models in")
    if not os.access(root, os.W_OK | os.X_OK):
        raise TuneDeckError(f"{root} is not writable", "choose a folder you can write to")
    return root


def lmstudio_target(
    fused: str | Path, root: str | Path | None = None, publisher: str = DEFAULT_PUBLISHER, name: str | None = None
) -> Path:
    """Where an export goes: ``<root>/<publisher>/<name>``."""
    name = _check_name("name", name or default_name(fused))
    return lmstudio_root(root) / _check_name("publisher", publisher) / name


def check_fresh(fused: str | Path, allow_stale: bool = False):
    """A stale fused model is refused (with the command that fuses it again);
    returns ``core.shipping.provenance.Freshness`` (None: no TuneDeck record)."""
    fresh = check_fused(fused)
    if fresh is not None and fresh.stale and not allow_stale:
        raise TuneDeckError(
            f"{fused} is out of date: {fresh.reason}",
            f"fuse again (`{fresh.refuse_command()}`), then export; or add --allow-stale "
            "to export the old fused model anyway",
        )
    return fresh


def check_export_source(folder: str | Path, allow_stale: bool = False) -> Path:
    """A fused model folder fit to export (not an adapter, loadable, not stale)."""
    folder = Path(folder)
    if folder.is_dir() and (folder / "adapters.safetensors").is_file():
        raise TuneDeckError(
            f"{folder} is an adapter, not a model",
            "fuse it first (`tunedeck fuse --model BASE --adapter A --out DIR`), then export DIR",
        )
    check_model_folder(folder)
    check_fresh(folder, allow_stale)
    return folder


def _check_name(what: str, value: str) -> str:
    if not _NAME.match(value or ""):
        raise TuneDeckError(
            f"{what} {value!r} cannot be a folder name",
            "use letters, digits, '.', '_' and '-' only (no slashes or spaces)",
        )
    check_name(value)  # not longer than a folder name may be
    return value


def default_name(fused: str | Path) -> str:
    """A fused model's export name: its run folder's name for ``<run>/fused``
    (every run's fused folder is called ``fused``), else the folder's own."""
    folder = Path(fused).resolve()
    if folder.name == "fused" and is_run_dir(folder.parent):
        return folder.parent.name
    return folder.name


def export_lmstudio(
    ctx,
    fused: str,
    root: str | None = None,
    publisher: str = DEFAULT_PUBLISHER,
    name: str | None = None,
    allow_stale: bool = False,
    overwrite: bool = False,
) -> ExportResult:
    source = check_export_source(fused, allow_stale)
    target = lmstudio_target(source, root, publisher, name)
    claim(target, LMSTUDIO_EXPORT, overwrite)  # new, or (overwrite) an earlier export of ours
    files = [p for p in source.iterdir() if p.is_file() and not p.name.startswith(".")]
    with write_folder(target, LMSTUDIO_EXPORT, overwrite, marker={"source": str(source.resolve())}) as draft:
        for i, path in enumerate(files):
            ctx.progress(f"copying {path.name}", i, len(files))
            ctx.check_cancelled()
            shutil.copy2(path, draft.path / path.name)
    ctx.progress("copied", len(files), len(files))
    return ExportResult(path=str(target), files=len(files))
