"""Ship a fused model: an LM Studio models folder, or GGUF where mlx-lm can.

LM Studio finds MLX models laid out as ``<root>/<publisher>/<name>/`` (the
model folder's files directly inside); the root is ``~/.lmstudio/models``
unless ``LMSTUDIO_MODELS_DIR`` or the app config's ``lmstudio_models_dir``
says otherwise. The copy is written under a temp name and renamed.

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

from core.errors import TuneDeckError
from core.model_folder import check_model_folder
from core.targets import GGUF, LMSTUDIO_EXPORT, check_name, claim, file_draft, write_folder

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
    check_name(value)  # not longer than a folder name may be
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
                    name: str | None = None, overwrite: bool = False) -> dict:
    source = _check_fused(fused)
    name = _check_name("name", name or default_name(source))
    publisher = _check_name("publisher", publisher)
    target = lmstudio_root(root) / publisher / name
    claim(target, LMSTUDIO_EXPORT, overwrite)  # new, or (overwrite) an earlier export of ours
    files = [p for p in source.iterdir() if p.is_file() and not p.name.startswith(".")]
    with write_folder(target, LMSTUDIO_EXPORT, overwrite, marker={"source": str(source.resolve())}) as draft:
        for i, path in enumerate(files):
            ctx.progress(f"copying {path.name}", i, len(files))
            ctx.check_cancelled()
            shutil.copy2(path, draft.path / path.name)
    ctx.progress("copied", len(files), len(files))
    return {"path": str(target), "files": len(files)}


def gguf_alternative_steps(fused: str | Path, out: str | Path) -> list[str]:
    """llama.cpp's documented route from a (dequantized) HF-layout folder."""
    return ["git clone https://github.com/ggml-org/llama.cpp",
            "pip install -r llama.cpp/requirements.txt",
            f"python llama.cpp/convert_hf_to_gguf.py {fused} --outfile {out} --outtype f16"]


def gguf_alternative(fused: str | Path, out: str | Path) -> str:
    return " && ".join(gguf_alternative_steps(fused, out))


def export_gguf(ctx, fused: str, out: str) -> dict:
    from mlx.utils import tree_flatten
    from mlx_lm import load
    from mlx_lm.gguf import convert_to_gguf

    source = _check_fused(fused)
    out_path = Path(out)
    if out_path.suffix != ".gguf":
        raise TuneDeckError(f"{out} does not end in .gguf", "name the output file like model.gguf")
    claim(out_path, GGUF)  # never over an existing file
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
    with file_draft(out_path, GGUF, suffix=".gguf") as tmp, contextlib.redirect_stdout(io.StringIO()):
        convert_to_gguf(source, weights, config, str(tmp))
    return {"path": str(out_path), "bytes": out_path.stat().st_size}
