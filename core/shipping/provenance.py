"""Where a derived artefact came from, and whether it still matches.

A run has two adapters: ``last`` (``adapters/``, the newest step) and
``best`` (``best/``, the lowest validation loss). A fused folder records in
``tunedeck_fused.json`` which adapter it was fused from (its path, relative
to the fused folder when both live in one run folder, so a copied or moved
run still finds its own; the run's iteration; a content hash of
``adapters.safetensors`` + ``adapter_config.json``) and which base (path or
hub id, a hash of ``config.json`` and the sizes of its safetensors files).
An evaluation records the same adapter fields.

``check_fused`` compares a fused folder's record with the adapter as it is
now: after a resume the adapter has moved on and the fused model is stale.
File sizes and modification times are compared first; the (slower) hash is
computed only when they differ, so a check is cheap enough for a screen.
No MLX here: plain file reads.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.training.run_folders import ADAPTERS, BEST, CONFIG, is_run_dir, read_events
from core.training.settings import load_yaml

RECORD = "tunedeck_fused.json"
FORMAT = 2  # 1: TuneDeck before provenance (absolute paths, no hashes)
ADAPTER_FILES = ("adapters.safetensors", "adapter_config.json")
CHOICES = ("last", "best")
_CHUNK = 1 << 20


# -- which adapter of a run --------------------------------------------------
def adapter_run(adapter: str | Path) -> Path | None:
    """The run folder an adapter folder belongs to (its parent), if any."""
    parent = Path(adapter).absolute().parent
    return parent if is_run_dir(parent) else None


def run_adapter(run_dir: str | Path, choice: str = "last") -> Path:
    """The run's ``last`` adapter (config.yaml's adapter_path, else
    ``adapters/``) or its ``best`` one (``best/``)."""
    run_dir = Path(run_dir)
    if choice == "best":
        return run_dir / BEST
    configured = None
    try:
        configured = load_yaml(run_dir / CONFIG).get("adapter_path")
    except Exception:  # a missing or broken config: the default layout
        configured = None
    path = Path(configured) if isinstance(configured, str) and configured else Path(ADAPTERS)
    return path if path.is_absolute() else run_dir / path


def adapter_choice(adapter: str | Path) -> str | None:
    """``best`` or ``last`` for a run's adapter folders; None for a bare one."""
    run = adapter_run(adapter)
    if run is None:
        return None

    folder = Path(adapter).resolve()
    if folder == (run / BEST).resolve():
        return "best"
    return "last" if folder in ((run / ADAPTERS).resolve(), run_adapter(run, "last").resolve()) else None


def adapter_iteration(adapter: str | Path) -> int | None:
    """The iteration the adapter's weights are from, read from its run's log:
    best/ is rewritten at each improving validation, adapters/ at each
    checkpoint and at the end."""
    run = adapter_run(adapter)
    if run is None:
        return None
    kinds = ("best",) if adapter_choice(adapter) == "best" else ("checkpoint", "finished", "stopped")
    found = None
    for e in read_events(run):
        if e["type"] in kinds and isinstance(e.get("iteration"), int) and e["iteration"] > 0:
            found = e["iteration"]
    return found


def describe_adapter(adapter: str | Path) -> str:
    """``RUN/best`` for a run's adapter, else the folder's path."""
    run = adapter_run(adapter)
    return f"{run.name}/{Path(adapter).name}" if run is not None else str(adapter)


# -- fingerprints --------------------------------------------------------------
def _digest(folder: Path, names) -> str:
    h = hashlib.sha256()
    for name in names:
        h.update(name.encode() + b"\0")
        with open(folder / name, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


def _stats(folder: Path, names) -> dict:
    out = {}
    for name in names:
        st = (folder / name).stat()
        out[name] = [st.st_size, st.st_mtime_ns]
    return out


def adapter_record(adapter: str | Path, relative_to: str | Path | None = None) -> dict:
    """What identifies an adapter: path, run, choice, iteration, content hash.
    ``relative_to``: the folder the record is written in; when the adapter is
    in a run folder that also holds that folder, the path relative to it."""
    folder = Path(adapter).absolute()
    run = adapter_run(folder)
    relative = None
    if run is not None and relative_to is not None:
        home = Path(relative_to).absolute()
        if home.is_relative_to(run):
            relative = os.path.relpath(folder, home)
    return {
        "path": str(folder),
        "relative": relative,
        "run": str(run) if run else None,
        "choice": adapter_choice(folder),
        "iteration": adapter_iteration(folder),
        "sha256": _digest(folder, ADAPTER_FILES),
        "files": _stats(folder, ADAPTER_FILES),
    }


def same_adapter(record: dict, folder: str | Path) -> bool:
    """Whether ``folder`` holds the adapter ``record`` describes (sizes and
    times first; the hash only when they differ, e.g. after a copy)."""
    folder = Path(folder)
    try:
        if record.get("files") == _stats(folder, ADAPTER_FILES):
            return True
        return record.get("sha256") == _digest(folder, ADAPTER_FILES)
    except OSError:
        return False


def _hub_id(folder: Path) -> tuple[str | None, str | None]:
    """``(repo id, revision)`` for a Hugging Face cache snapshot folder."""
    parts = folder.parts
    for i, part in enumerate(parts[:-2]):
        if part.startswith("models--") and parts[i + 1] == "snapshots":
            return part[len("models--") :].replace("--", "/"), parts[i + 2]
    return None, None


def base_fingerprint(model: str | Path) -> dict:
    """A cheap fingerprint of a model folder: config.json's hash and the
    sizes of its weight files (hashing gigabytes of weights is not cheap)."""
    folder = Path(model)
    try:
        config = hashlib.sha256((folder / "config.json").read_bytes()).hexdigest()
    except OSError:
        config = None
    weights = {p.name: p.stat().st_size for p in sorted(folder.glob("*.safetensors"))}
    return {"config_sha256": config, "weights": weights}


def base_record(model: str | Path) -> dict:
    folder = Path(model).absolute()
    hub_id, revision = _hub_id(folder)
    return {"path": str(folder), "hub_id": hub_id, "revision": revision, **base_fingerprint(folder)}


def fused_record(model: str, adapter: str, out: str | Path, dequantized: bool, quantized_base: bool) -> dict:
    """The record a fused folder keeps (written by ``core.shipping.fuse``)."""
    return {
        "format": FORMAT,
        "adapter": adapter_record(adapter, relative_to=out),
        "base": base_record(model),
        "dequantized": dequantized,
        "quantized_base": quantized_base,
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def read_record(fused: str | Path) -> dict | None:
    """The fused folder's record, or None when it has none (not TuneDeck's)."""
    try:
        data = json.loads((Path(fused) / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# -- is a fused model still what its adapter is? ------------------------------
@dataclass
class Freshness:
    state: str  # fresh | stale | unknown (the adapter is gone, so it cannot be checked)
    reason: str  # a plain sentence: why stale or unknown, what it was fused from when fresh
    fused: Path
    adapter: Path | None  # where its adapter is now
    run: Path | None
    choice: str | None  # last | best | None (a bare adapter folder)
    fused_iteration: int | None
    now_iteration: int | None
    dequantized: bool = False
    base: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def stale(self) -> bool:
        return self.state == "stale"

    def source(self) -> str:
        """``last adapter RUN/adapters at iteration 116`` and the like."""
        what = f"{self.choice} adapter " if self.choice else "adapter "
        where = describe_adapter(self.adapter) if self.adapter else "?"
        at = f" at iteration {self.fused_iteration}" if self.fused_iteration else ""
        return f"{what}{where}{at}"

    def refuse_command(self) -> str:
        """The command that fuses this model again, replacing it."""
        flags = " --dequantize" if self.dequantized else ""
        if self.run is not None and self.fused.absolute() == (self.run / "fused").absolute() and self.choice:
            choice = " --adapter best" if self.choice == "best" else ""
            return f"tunedeck fuse {self.run}{choice} --overwrite{flags}"
        return (
            f"tunedeck fuse --model {self.base or 'BASE'} --adapter {self.adapter or 'ADAPTER'} "
            f"--out {self.fused} --overwrite{flags}"
        )


def _locate(rec: dict, fused: Path) -> Path | None:
    """The recorded adapter: beside the fused folder in its run first (a
    copied or moved run has its own), then at its absolute path."""
    candidates = []
    if rec.get("relative"):
        candidates.append(fused / rec["relative"])
    if rec.get("path"):
        candidates.append(Path(rec["path"]))
    for c in candidates:
        if (c / ADAPTER_FILES[0]).is_file():
            return Path(os.path.normpath(c.absolute()))
    return None


def check_fused(fused: str | Path) -> Freshness | None:
    """Whether a fused folder still matches the adapter (and base) it was
    fused from; None when the folder has no TuneDeck record."""
    fused = Path(fused)
    record = read_record(fused)
    if record is None:
        return None
    rec = record.get("adapter")
    base = record.get("base") if isinstance(record.get("base"), dict) else {}
    dequantized = bool(record.get("dequantized"))
    if isinstance(rec, str):  # the first format: an absolute path and nothing to compare
        return _check_first_format(fused, Path(rec), str(record.get("base_model") or ""), dequantized)
    if not isinstance(rec, dict):
        rec = {}
    adapter = _locate(rec, fused)
    run = adapter_run(adapter) if adapter else None
    choice = rec.get("choice")
    fused_it = rec.get("iteration") if isinstance(rec.get("iteration"), int) else None
    info = dict(
        fused=fused,
        adapter=adapter,
        run=run,
        choice=choice,
        fused_iteration=fused_it,
        now_iteration=None,
        dequantized=dequantized,
        base=str(base.get("hub_id") or base.get("path") or ""),
    )
    if adapter is None:
        where = rec.get("path") or "?"
        return Freshness(
            "unknown", f"the adapter it was fused from ({where}) is no longer there, so it cannot be checked", **info
        )
    now_it = adapter_iteration(adapter)
    info["now_iteration"] = now_it
    name = describe_adapter(adapter)
    if not same_adapter(rec, adapter):
        if fused_it and now_it and fused_it != now_it:
            reason = f"fused at iteration {fused_it}, but the adapter ({name}) is now at iteration {now_it}"
        else:
            at = f" at iteration {fused_it}" if fused_it else ""
            reason = f"the adapter ({name}) has changed since it was fused{at}"
        return Freshness("stale", reason, **info)
    result = Freshness("fresh", "", **info)
    base_path = Path(base.get("path") or "")
    if base.get("path") and (base_path / "config.json").is_file():
        if base_fingerprint(base_path) != {k: base.get(k) for k in ("config_sha256", "weights")}:
            return Freshness("stale", f"the base model ({base_path}) has changed since it was fused", **info)
    elif base.get("path"):
        result.notes.append(f"its base model ({base_path}) is no longer there")
    result.reason = f"fused from the {result.source()}"
    return result


def _check_first_format(fused: Path, adapter: Path, base: str, dequantized: bool) -> Freshness:
    """A folder fused before TuneDeck recorded hashes: the adapter is stale
    when its files were written after the fused folder's record."""
    present = (adapter / ADAPTER_FILES[0]).is_file()
    run = adapter_run(adapter) if present else None
    info = dict(
        fused=fused,
        adapter=adapter if present else None,
        run=run,
        choice=adapter_choice(adapter) if present else None,
        fused_iteration=None,
        now_iteration=adapter_iteration(adapter) if present else None,
        dequantized=dequantized,
        base=base,
    )
    if not present:
        return Freshness(
            "unknown", f"the adapter it was fused from ({adapter}) is no longer there, so it cannot be checked", **info
        )
    written = max((adapter / n).stat().st_mtime for n in ADAPTER_FILES if (adapter / n).is_file())
    if written > (fused / RECORD).stat().st_mtime:
        now = f" (it is now at iteration {info['now_iteration']})" if info["now_iteration"] else ""
        return Freshness(
            "stale", f"the adapter ({describe_adapter(adapter)}) was written after this model was fused{now}", **info
        )
    result = Freshness("fresh", "", **info)
    result.reason = f"fused from the {result.source()}"
    return result
