"""Is this folder a model mlx-lm can load? Checked before any MLX work,
and ``load_model``: mlx-lm's load with its failures said in people's words.

The check reads only small files and the weight files' headers (never the
weights): config.json must be a JSON object naming an architecture the
installed mlx-lm has, the safetensors must be whole (a download cut short
is the usual cause of a broken folder), and a tokenizer must be there.
A model's own Python code (``trust_remote_code``) is never run.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from core.models.mlx_lm_support import mlx_lm_models_dir, mlx_lm_supports
from core.runtime.errors import TuneDeckError

# Imported where used, not at module level (import cost, 2 cores): mlx_lm ~3 s

TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "tiktoken.model")
OTHER_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.gguf", "*.ckpt", "*.h5", "*.msgpack")
GET_AGAIN = "download the model again (a download cut short is the usual cause), or choose another model"
ADAPTER_FIX = "use the adapter with the base model it was trained on"


def check_model_folder(path: str | Path) -> Path:
    folder = Path(path)
    if folder.is_file():
        raise TuneDeckError(
            f"{folder} is a file, not a model folder", "type the folder that holds config.json and *.safetensors"
        )
    if not folder.is_dir():
        raise TuneDeckError(
            f"model folder not found: {folder}",
            "check the path, or choose another model (the offline demo model needs no download)",
        )
    if not (folder / "config.json").is_file():
        raise TuneDeckError(
            f"{folder} has no config.json, so it is not a model folder",
            "point at the folder that holds config.json and *.safetensors",
        )
    _check_config(folder / "config.json")
    weights = sorted(folder.glob("*.safetensors"))
    if not weights:
        other = sorted({p.name for pattern in OTHER_WEIGHTS for p in folder.glob(pattern)})
        if other:
            raise TuneDeckError(
                f"{folder} has only {', '.join(other[:3])} weights; mlx-lm reads *.safetensors",
                "convert it with `mlx_lm.convert --hf-path <the original repo>`, or download "
                "the model's MLX or safetensors version",
            )
        raise TuneDeckError(
            f"{folder} has no *.safetensors weights", "download the model again, or convert it with mlx_lm.convert"
        )
    for file in weights:
        _check_safetensors(file)
    _check_shards(folder)
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise TuneDeckError(
            f"{folder} has no tokenizer (none of {', '.join(TOKENIZER_FILES)})",
            "copy the tokenizer files from the original model into this folder",
        )
    return folder


def _check_config(path: Path) -> None:
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise TuneDeckError(f"{path} is not UTF-8 text (byte {exc.start})", GET_AGAIN) from exc
    except json.JSONDecodeError as exc:
        raise TuneDeckError(
            f"{path.name} is not valid JSON ({exc.msg}, line {exc.lineno})", GET_AGAIN, where=f"{path}:{exc.lineno}"
        ) from exc
    except (OSError, ValueError, RecursionError) as exc:
        raise TuneDeckError(f"cannot read {path}: {exc}", GET_AGAIN) from exc
    if not isinstance(cfg, dict):
        raise TuneDeckError(f"{path} is not a JSON object", GET_AGAIN)
    model_type = cfg.get("model_type")
    if not isinstance(model_type, str) or not model_type:
        raise TuneDeckError(f"{path} names no model_type, so mlx-lm cannot tell the architecture", GET_AGAIN)
    if mlx_lm_models_dir() is not None and not mlx_lm_supports(model_type):
        raise TuneDeckError(
            f"the installed mlx-lm has no model type {model_type!r} ({path.parent.name})",
            "choose a model of an architecture mlx-lm supports (llama, qwen2, mistral, "
            "gemma, phi3…), or upgrade mlx-lm",
        )


def _check_safetensors(path: Path) -> None:
    """The header must parse and the data it describes must all be there."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise ValueError("shorter than its 8-byte header length")
            (length,) = struct.unpack("<Q", head)
            if length > min(size, 100_000_000):
                raise ValueError("its header length is larger than the file")
            header = json.loads(fh.read(length))
        if not isinstance(header, dict):
            raise ValueError("its header is not a JSON object")
        end = max(
            (
                meta["data_offsets"][1]
                for name, meta in header.items()
                if name != "__metadata__" and isinstance(meta, dict)
            ),
            default=0,
        )
    except (OSError, ValueError, KeyError, IndexError, TypeError, struct.error) as exc:
        raise TuneDeckError(f"{path.name} in {path.parent} is damaged ({exc})", GET_AGAIN) from exc
    if 8 + length + end > size:
        raise TuneDeckError(
            f"{path.name} in {path.parent} is cut short ({size:,} of {8 + length + end:,} bytes)", GET_AGAIN
        )


def _check_shards(folder: Path) -> None:
    index = folder / "model.safetensors.index.json"
    if not index.is_file():
        return
    try:
        shards = set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TuneDeckError(f"{index} is damaged ({exc})", GET_AGAIN) from exc
    missing = sorted(s for s in shards if not isinstance(s, str) or not (folder / s).is_file())
    if missing:
        raise TuneDeckError(
            f"{folder} lacks {len(missing)} weight file(s) its index lists, e.g. {missing[0]}", GET_AGAIN
        )


def _reason(exc: BaseException) -> str:
    text = f"{exc}".strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:299] + "…"


def load_model(model_path: str | Path, adapter_path: str | Path | None = None, return_config: bool = False):
    """``mlx_lm.load`` (base, then the adapter, as it does), with a failure
    of the base and one of the adapter told apart. Worker thread only."""
    from mlx_lm import load
    from mlx_lm.tuner.utils import load_adapters

    folder = check_model_folder(model_path)
    try:
        model, tokenizer, config = load(str(folder), return_config=True)  # trust_remote_code stays False
    except Exception as exc:  # noqa: BLE001 -- mlx-lm, transformers and safetensors raise many kinds
        if "trust_remote_code" in str(exc):
            raise TuneDeckError(
                f"{folder.name} needs its own Python code to load, which TuneDeck never runs",
                "choose a model mlx-lm supports natively (or its mlx-community conversion)",
            ) from exc
        raise TuneDeckError(f"cannot load the model in {folder}: {_reason(exc)}", GET_AGAIN) from exc
    if adapter_path is not None:
        adapter = Path(adapter_path)
        if not (adapter / "adapters.safetensors").is_file() or not (adapter / "adapter_config.json").is_file():
            raise TuneDeckError(
                f"no trained adapter in {adapter}",
                "train first, or point at a folder with adapters.safetensors and adapter_config.json",
            )
        try:
            model = load_adapters(model, str(adapter))
        except Exception as exc:  # noqa: BLE001
            raise TuneDeckError(
                f"the adapter in {adapter} does not fit {folder.name}: {_reason(exc)}", ADAPTER_FIX
            ) from exc
        model.eval()
    return (model, tokenizer, config) if return_config else (model, tokenizer)
