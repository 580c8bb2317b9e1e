"""Ship a fused model: an LM Studio models folder, or GGUF where mlx-lm can.

LM Studio finds MLX models laid out as ``<root>/<publisher>/<name>/`` (the
model folder's files directly inside); the root is ``~/.lmstudio/models``
unless ``LMSTUDIO_MODELS_DIR`` or the app config's ``lmstudio_models_dir``
says otherwise (the Judge screen's ``o`` key chooses and remembers it). The
copy is written under a temp name and renamed. A fused model that no longer
matches its run's adapter (``core.provenance.check_fused``: the run was
resumed after the fuse) is refused, so a stale model is never shipped
silently; ``allow_stale`` is the explicit request to ship it anyway.

GGUF: mlx-lm's converter (``mlx_lm.gguf.convert_to_gguf``) handles only the
architectures ``mlx_lm.fuse --export-gguf`` allows, and no quantized
weights. For anything else we explain and give llama.cpp's converter
command instead of failing with a traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
from pathlib import Path

from core.atomic import atomic_dir, atomic_path
from core.errors import TuneDeckError
from core.model_folder import check_model_folder

# The model types mlx_lm.fuse accepts for --export-gguf (mlx-lm 0.32).
GGUF_MODEL_TYPES = ("llama", "mixtral", "mistral")
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


def check_lmstudio_root(text: str | Path) -> Path:
    """A models folder the user chose: it must exist, be a folder and be writable."""
    if not str(text).strip():
        raise TuneDeckError("no folder given", "type the folder LM Studio keeps its models in "
                            "(LM Studio shows it under My Models)")
    root = Path(str(text).strip()).expanduser().absolute()
    if not root.exists():
        raise TuneDeckError(f"{root} does not exist",
                            "choose LM Studio's models folder (LM Studio shows it under My Models), "
                            "or create the folder first")
    if not root.is_dir():
        raise TuneDeckError(f"{root} is a file, not a folder", "choose the folder LM Studio keeps its models in")
    if not os.access(root, os.W_OK | os.X_OK):
        raise TuneDeckError(f"{root} is not writable", "choose a folder you can write to")
    return root


def lmstudio_target(fused: str | Path, root: str | Path | None = None, publisher: str = DEFAULT_PUBLISHER,
                    name: str | None = None) -> Path:
    """Where an export goes: ``<root>/<publisher>/<name>``."""
    name = _check_name("name", name or default_name(fused))
    return lmstudio_root(root) / _check_name("publisher", publisher) / name


def check_fresh(fused: str | Path, allow_stale: bool = False):
    """A stale fused model is refused (with the command that fuses it again);
    returns ``core.provenance.Freshness`` (None: no TuneDeck record)."""
    from core.provenance import check_fused

    fresh = check_fused(fused)
    if fresh is not None and fresh.stale and not allow_stale:
        raise TuneDeckError(f"{fused} is out of date: {fresh.reason}",
                            f"fuse again (`{fresh.refuse_command()}`), then export; or add --allow-stale "
                            "to export the old fused model anyway")
    return fresh


def check_export_source(folder: str | Path, allow_stale: bool = False) -> Path:
    """A fused model folder fit to export (not an adapter, loadable, not stale)."""
    folder = Path(folder)
    if folder.is_dir() and (folder / "adapters.safetensors").is_file():
        raise TuneDeckError(f"{folder} is an adapter, not a model",
                            "fuse it first (`tunedeck fuse --model BASE --adapter A --out DIR`), then export DIR")
    check_model_folder(folder)
    check_fresh(folder, allow_stale)
    return folder


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


def gguf_unsupported(fused: str | Path) -> str | None:
    """Why mlx-lm cannot write GGUF for this folder's architecture, or None."""
    try:
        model_type = json.loads((Path(fused) / "config.json").read_text(encoding="utf-8")).get("model_type", "?")
    except (OSError, ValueError, AttributeError):
        return None  # export_gguf reports the broken folder itself
    if model_type in GGUF_MODEL_TYPES:
        return None
    return f"mlx-lm cannot write GGUF for {model_type} models (it supports {', '.join(GGUF_MODEL_TYPES)})"


def export_lmstudio(ctx, fused: str, root: str | None = None, publisher: str = DEFAULT_PUBLISHER,
                    name: str | None = None, allow_stale: bool = False) -> dict:
    source = check_export_source(fused, allow_stale)
    target = lmstudio_target(source, root, publisher, name)
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


def gguf_alternative_steps(fused: str | Path, out: str | Path) -> list[str]:
    """llama.cpp's documented route from a (dequantized) HF-layout folder."""
    return ["git clone https://github.com/ggml-org/llama.cpp",
            "pip install -r llama.cpp/requirements.txt",
            f"python llama.cpp/convert_hf_to_gguf.py {fused} --outfile {out} --outtype f16"]


def gguf_alternative(fused: str | Path, out: str | Path) -> str:
    return " && ".join(gguf_alternative_steps(fused, out))


def export_gguf(ctx, fused: str, out: str, allow_stale: bool = False) -> dict:
    from mlx.utils import tree_flatten
    from mlx_lm import load
    from mlx_lm.gguf import convert_to_gguf

    source = check_export_source(fused, allow_stale)
    out_path = Path(out)
    if out_path.suffix != ".gguf":
        raise TuneDeckError(f"{out} does not end in .gguf", "name the output file like model.gguf")
    if out_path.exists():
        raise TuneDeckError(f"{out} already exists", "choose a new file name so nothing is overwritten")
    try:
        config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    except ValueError as exc:
        raise TuneDeckError(f"{source / 'config.json'} is not valid JSON: {exc}", "repair or re-fuse the model") from exc
    unsupported = gguf_unsupported(source)
    if unsupported:
        raise TuneDeckError(
            unsupported,
            "use llama.cpp's converter on the fused folder (fuse with --dequantize if the base was "
            f"quantized): {gguf_alternative(source, out_path)}")
    if "quantization" in config or "quantization_config" in config:
        raise TuneDeckError("mlx-lm cannot write GGUF from quantized weights",
                            "fuse again with --dequantize (`tunedeck fuse ... --dequantize`), then export that folder")
    ctx.progress(f"loading {source.name}")
    model, _ = load(str(source))
    weights = dict(tree_flatten(model.parameters()))
    ctx.check_cancelled()
    ctx.progress("writing GGUF")
    # convert_to_gguf prints progress naming the temp file; we report ourselves.
    with atomic_path(out_path, suffix=".gguf") as tmp, contextlib.redirect_stdout(io.StringIO()):
        convert_to_gguf(source, weights, config, str(tmp))
    return {"path": str(out_path), "bytes": out_path.stat().st_size}
