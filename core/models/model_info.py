"""What a model folder is: name, size on disk, parameters, quantization,
architecture, and whether mlx-lm can load it. Read from files only (config.json
and the safetensors headers): no MLX, so any thread may call this.

Also lists the models already on this machine: the Hugging Face cache
(``$HF_HUB_CACHE``), and the folders TuneDeck made (demo and fused models).
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import asdict, dataclass
from pathlib import Path

from core.models.demo_model import is_demo_model
from core.models.mlx_lm_support import mlx_lm_supports, model_patterns
from core.models.model_folder import check_model_folder
from core.runtime import paths
from core.runtime.errors import TuneDeckError
from core.runtime.memory import Estimate, estimate

# Imported where used, not at module level (import cost, 2 cores): huggingface_hub ~0.5 s

DTYPE_BYTES = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "I64": 8,
    "I32": 4,
    "U32": 4,
    "I16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
}


@dataclass
class ModelInfo:
    name: str
    path: str
    source: str  # demo | hf-cache | app | folder
    size_bytes: int = 0
    parameters: int | None = None
    bits: int | None = None
    model_type: str = "?"
    hidden_size: int | None = None
    layers: int | None = None
    supported: bool = False
    repo_id: str | None = None
    complete: bool = True
    problem: str = ""  # why it cannot be used (incomplete download, not a model folder…)

    def estimate(self, memory_bytes: int | None = None) -> Estimate | None:
        if not (self.parameters and self.hidden_size and self.layers):
            return None
        return estimate(self.parameters, self.hidden_size, self.layers, self.bits, memory_bytes)

    def as_dict(self) -> dict:
        return asdict(self)


def _read_config(folder: Path) -> dict:
    try:
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        return cfg if isinstance(cfg, dict) else {}
    except (OSError, ValueError):
        return {}


def quant_bits(cfg: dict) -> int | None:
    q = cfg.get("quantization") or cfg.get("quantization_config")
    if isinstance(q, dict) and isinstance(q.get("bits"), int):
        return q["bits"]
    return None


def _text_config(cfg: dict) -> dict:
    # Multimodal configs keep the language model's sizes under text_config.
    inner = cfg.get("text_config")
    return {**inner, **{k: v for k, v in cfg.items() if k not in inner}} if isinstance(inner, dict) else cfg


def safetensors_header(path: Path) -> dict:
    """The JSON header of a .safetensors file (first 8 bytes: its length)."""
    with open(path, "rb") as fh:
        (length,) = struct.unpack("<Q", fh.read(8))
        if length > 100_000_000:
            raise ValueError("implausible safetensors header")
        return json.loads(fh.read(length))


def count_parameters(folder: Path, bits: int | None = None) -> int | None:
    """Parameters from the weight headers: exact and cheap (no tensor data read).
    Quantized weights pack 32/bits values per uint32; their scales/biases are not parameters."""
    total, seen = 0, False
    for file in sorted(folder.glob("*.safetensors")):
        try:
            header = safetensors_header(file)
        except (OSError, ValueError, struct.error):
            return None
        for name, meta in header.items():
            if name == "__metadata__" or not isinstance(meta, dict):
                continue
            if bits and (name.endswith(".scales") or name.endswith(".biases")):
                continue
            n = 1
            for dim in meta.get("shape", []):
                n *= dim
            if bits and meta.get("dtype") == "U32":
                n = n * 32 // bits
            total += n
            seen = True
    return total if seen else None


def folder_size(folder: Path) -> int:
    size = 0
    for entry in folder.rglob("*"):
        try:
            if entry.is_file():  # follows the HF cache's symlinks to blobs
                size += entry.stat().st_size
        except OSError:
            pass
    return size


def inspect_folder(
    path: str | Path,
    source: str = "folder",
    name: str | None = None,
    repo_id: str | None = None,
    size_bytes: int | None = None,
) -> ModelInfo:
    folder = Path(path)
    cfg = _read_config(folder)
    text = _text_config(cfg)
    bits = quant_bits(cfg)
    model_type = str(cfg.get("model_type") or "?")
    info = ModelInfo(
        name=name or folder.name,
        path=str(folder),
        source=source,
        repo_id=repo_id,
        size_bytes=size_bytes or 0,
        bits=bits,
        model_type=model_type,
        hidden_size=text.get("hidden_size") if isinstance(text.get("hidden_size"), int) else None,
        layers=text.get("num_hidden_layers") if isinstance(text.get("num_hidden_layers"), int) else None,
        supported=mlx_lm_supports(model_type),
    )
    try:
        check_model_folder(folder)
    except TuneDeckError as exc:
        info.complete, info.problem = False, exc.message
        # No size walk here: a typed "/" or "~" would read the whole disk.
        return info
    if size_bytes is None:
        info.size_bytes = folder_size(folder)
    info.parameters = count_parameters(folder, bits)
    if not info.supported:
        info.problem = f"mlx-lm has no model type {model_type!r}"
    return info


# -- what is on this machine ------------------------------------------------------------


def hf_hub_cache() -> Path:
    """The Hugging Face cache, resolved now (huggingface_hub reads it once at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    hf_home = (
        os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface"
    )
    return Path(hf_home).expanduser() / "hub"


def cached_models(cache_dir: str | Path | None = None) -> list[ModelInfo]:
    """Model repos in the Hugging Face cache, one entry per repo (its newest snapshot)."""
    cache = Path(cache_dir) if cache_dir else hf_hub_cache()
    if not cache.is_dir():
        return []
    from huggingface_hub import scan_cache_dir  # deferred: pulls in httpx (~0.3 s)

    try:
        report = scan_cache_dir(cache)
    except Exception:  # an unreadable cache must not break the picker
        return []
    found = _damaged_repos(cache, report)
    for repo in sorted(report.repos, key=lambda r: r.repo_id.lower()):
        if repo.repo_type != "model" or not repo.revisions:
            continue
        revisions = sorted(repo.revisions, key=lambda r: ("main" in r.refs, r.last_modified), reverse=True)
        rev = revisions[0]
        info = inspect_folder(
            rev.snapshot_path, "hf-cache", name=repo.repo_id, repo_id=repo.repo_id, size_bytes=rev.size_on_disk
        )
        if info.complete and _missing_from_tree(repo.repo_id, rev.commit_hash, cache, rev.snapshot_path):
            info.complete, info.problem = False, "download incomplete: some files are missing"
        if not info.complete:  # the snapshot path is shown elsewhere: keep the reason short
            info.problem = (
                info.problem.replace(str(rev.snapshot_path), "the download") + " (download again to finish it)"
            )
        found.append(info)
    return sorted(found, key=lambda m: m.name.lower())


def _damaged_repos(cache: Path, report) -> list[ModelInfo]:
    """Model repos scan_cache_dir skipped as corrupted (a blob deleted under a
    snapshot's link, a missing snapshots folder). Listed as incomplete so that
    Enter downloads them again, which repairs them, instead of hiding them."""
    scanned = {repo_folder(r.repo_id) for r in report.repos if r.repo_type == "model"}
    damaged = []
    for folder in sorted(cache.glob("models--*")):
        if folder.name in scanned or not folder.is_dir():
            continue
        repo_id = folder.name[len("models--") :].replace("--", "/")
        snapshots = [s for s in (folder / "snapshots").glob("*") if s.is_dir()]
        newest = max(snapshots, key=lambda s: s.stat().st_mtime, default=folder)
        info = inspect_folder(newest, "hf-cache", name=repo_id, repo_id=repo_id, size_bytes=0)
        info.complete = False
        info.problem = "damaged in the cache (a file is missing): download again to repair it"
        damaged.append(info)
    return damaged


def _missing_from_tree(repo_id: str, commit: str, cache: Path, snapshot: Path) -> bool:
    """True when the hub's file list (cached by huggingface_hub >= 1.x) names
    a model file that is not in the snapshot."""
    try:
        from huggingface_hub import get_cached_repo_tree
        from huggingface_hub.utils import filter_repo_objects
    except ImportError:
        return False

    try:
        files = [f.path for f in get_cached_repo_tree(repo_id, revision=commit, cache_dir=cache)]
    except Exception:
        return False
    return any(not (snapshot / p).is_file() for p in filter_repo_objects(files, allow_patterns=model_patterns()))


def app_models() -> list[ModelInfo]:
    """Folders TuneDeck made: the demo model and fused models under models/ (and runs/*/fused*)."""
    found = []
    candidates = sorted(paths.models_dir().glob("*/config.json")) + sorted(
        paths.runs_dir().glob("*/fused*/config.json")
    )
    for cfg in candidates:
        folder = cfg.parent
        if folder.name.startswith("."):
            continue  # a temp folder mid-write (see core.runtime.atomic)
        source = "demo" if is_demo_model(folder) else "app"
        found.append(inspect_folder(folder, source))
    return found


def local_models(cache_dir: str | Path | None = None) -> list[ModelInfo]:
    return app_models() + cached_models(cache_dir)


def format_size(n: float | None) -> str:
    if not n:
        return "?"
    for unit, div in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{int(n)} B"


def format_params(n: int | None) -> str:
    if not n:
        return "?"
    for unit, div in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            return f"{n / div:.1f}{unit}"
    return str(n)


def repo_folder(repo_id: str) -> str:
    """The cache folder name huggingface_hub uses for a model repo."""
    return "models--" + repo_id.replace("/", "--")
