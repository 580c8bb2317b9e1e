"""The environment check behind the first screen and ``tunedeck doctor``.

Each check says pass / warn / fail with one line of detail and one line of
fix. Only a ``fail`` stops training; warnings are things a user should know
(CPU-only MLX, an unreachable hub).
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from core.models.hub import free_bytes, resolve_endpoint, whoami
from core.models.model_folder import check_model_folder
from core.models.model_info import format_size, hf_hub_cache, inspect_folder
from core.runtime import blas, paths
from core.runtime.errors import TuneDeckError
from core.runtime.memory import SMALL_MEMORY_BYTES, TIGHT, WONT_FIT, total_memory

# Imported where used, not at module level (import cost, 2 cores): mlx (runs on the worker), huggingface_hub ~0.5 s

PACKAGES = ("mlx", "mlx-lm", "textual", "datasets", "huggingface_hub")


@dataclass
class Check:
    id: str
    name: str
    status: str  # pass | warn | fail
    detail: str
    fix: str = ""


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def check_platform() -> Check:
    system, machine = platform.system(), platform.machine()
    if system == "Darwin":
        release = platform.mac_ver()[0] or "?"
        parts = tuple(int(p) for p in release.split(".")[:2] if p.isdigit())
        if machine != "arm64":
            return Check(
                "platform",
                "OS and chip",
                "fail",
                f"macOS {release} on {machine}",
                "MLX needs Apple silicon (M1 or later)",
            )
        if parts and parts < (13, 5):
            return Check(
                "platform",
                "OS and chip",
                "fail",
                f"macOS {release} on Apple silicon",
                "MLX needs macOS 13.5 or later: update macOS",
            )
        return Check("platform", "OS and chip", "pass", f"macOS {release} on Apple silicon")
    if system == "Linux":
        return Check(
            "platform",
            "OS and chip",
            "warn",
            f"Linux on {machine}: MLX runs on the CPU",
            "fine for the offline demo; real models train far faster on a Mac",
        )
    return Check(
        "platform", "OS and chip", "fail", f"{system} on {machine}", "MLX runs on macOS (Apple silicon) or Linux"
    )


def check_python() -> Check:
    v = sys.version_info
    text = f"Python {v.major}.{v.minor}.{v.micro}"
    if v < (3, 10):
        return Check("python", "Python", "fail", text, "install Python 3.10 or newer")
    return Check("python", "Python", "pass", text)


def check_packages() -> Check:
    found = {name: _version(name) for name in PACKAGES}
    missing = [n for n, v in found.items() if v is None]
    detail = ", ".join(f"{n} {v}" for n, v in found.items() if v)
    if missing:
        return Check(
            "packages", "Packages", "fail", f"missing: {', '.join(missing)}", "reinstall: .venv/bin/pip install -e ."
        )
    return Check("packages", "Packages", "pass", detail)


def check_mlx_device() -> Check:
    try:
        import mlx.core as mx  # deferred: ~0.2 s, and only this check needs it
    except Exception as exc:  # a broken wheel raises more than ImportError
        return Check(
            "device",
            "MLX device",
            "fail",
            f"mlx does not import: {exc}",
            "reinstall mlx: .venv/bin/pip install --force-reinstall mlx",
        )
    if mx.metal.is_available():
        return Check("device", "MLX device", "pass", "GPU (Metal)")
    return Check(
        "device",
        "MLX device",
        "warn",
        "CPU only (no Metal GPU)",
        "expected on Linux; on a Mac, check you run a native arm64 Python",
    )


def _loaded_libraries() -> str:
    try:
        return Path("/proc/self/maps").read_text()
    except OSError:
        return ""


def check_blas() -> Check | None:
    """Linux only: the mlx-cpu wheel bundles netlib's reference BLAS (slow);
    ``tunedeck`` preloads OpenBLAS automatically when it is installed."""
    if platform.system() != "Linux":
        return None
    try:
        importlib.import_module("mlx.core")  # loads libmlx (and its BLAS); no MLX call: any thread
    except Exception:
        pass
    fast = blas.loaded_fast_blas(_loaded_libraries())
    if fast:
        how = " (loaded by tunedeck)" if blas.ACTIVE else ""
        return Check("blas", "CPU BLAS", "pass", f"optimized BLAS in use: {Path(fast).name}{how}")
    if not blas.mlx_bundles_reference_blas():
        return Check("blas", "CPU BLAS", "pass", "this mlx build does not use the reference BLAS")
    available = blas.find_fast_blas()
    if available:
        off = os.environ.get(blas.OPT_OUT)
        why = f"{blas.OPT_OUT} is set" if off else "this process was not started by tunedeck"
        return Check(
            "blas",
            "CPU BLAS",
            "warn",
            f"reference BLAS in use ({why}); OpenBLAS is installed at {available}",
            f"unset {blas.OPT_OUT}, or start with LD_PRELOAD={available}, for ~40x faster CPU matmuls"
            if off
            else f"run through `tunedeck`, or start with LD_PRELOAD={available}",
        )
    return Check(
        "blas",
        "CPU BLAS",
        "warn",
        "reference BLAS in use (matmuls ~40x slower than OpenBLAS)",
        f"{blas.INSTALL_HINT}; tunedeck then uses it automatically",
    )


def check_memory(model=None) -> Check:
    """``model``: a core.models.model_info.ModelInfo; the verdict then covers training it."""
    total = total_memory()
    if not total:
        return Check("memory", "Memory", "warn", "could not read the memory size")
    gb = total / 2**30
    est = model.estimate(total) if model is not None else None
    if est is not None:
        detail = f"{gb:.0f} GiB; LoRA on {model.name} needs {est.label()}"
        if est.verdict == WONT_FIT:
            return Check(
                "memory",
                "Memory",
                "warn",
                detail,
                "pick a smaller or 4-bit (QLoRA) model, or lower batch size and LoRA layers",
            )
        if est.verdict == TIGHT:
            return Check(
                "memory",
                "Memory",
                "warn",
                detail,
                "close other apps; use batch size 1-2 and fewer LoRA layers if it runs out",
            )
        return Check("memory", "Memory", "pass", detail)
    if total < SMALL_MEMORY_BYTES:
        return Check(
            "memory", "Memory", "warn", f"{gb:.0f} GiB", "stay with 0.5B models (or 4-bit ones) and batch size 1"
        )
    return Check("memory", "Memory", "pass", f"{gb:.0f} GiB")


def check_disk(model=None) -> Check:
    """Free space where runs (TUNEDECK_HOME) and downloads (HF cache) go.
    With a chosen model: room for a fused copy of it plus adapters."""
    where = {"runs": paths.home(), "models": hf_hub_cache()}
    free = {k: free_bytes(v) for k, v in where.items()}
    low = min(free, key=free.get)
    detail = f"{free['runs'] / 2**30:.1f} GiB free for {where['runs']}"
    if free["models"] != free["runs"]:
        detail += f", {free['models'] / 2**30:.1f} GiB for the model cache"
    if free[low] < 2**30:
        return Check("disk", "Disk", "fail", detail, "free some disk space, or set TUNEDECK_HOME elsewhere")
    if model is not None and model.size_bytes:
        need = model.size_bytes * 1.2  # a fused model is a full copy; adapters and checkpoints are small
        if free["runs"] < need:
            return Check(
                "disk",
                "Disk",
                "warn",
                f"{detail}; fusing {model.name} needs ~{format_size(need)}",
                "free disk space, or set TUNEDECK_HOME to a larger disk",
            )
        return Check("disk", "Disk", "pass", detail)
    if free[low] < 5 * 2**30:
        return Check("disk", "Disk", "warn", detail, "a 0.5B model needs ~1 GB, fused copies more")
    return Check("disk", "Disk", "pass", detail)


def hub_endpoint() -> str:
    return resolve_endpoint()[0]


def hub_reachable(endpoint: str | None = None, timeout: float = 2.0) -> tuple[bool, str]:
    """(reachable, reason). Honours HF_HUB_OFFLINE without touching the network."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return False, "HF_HUB_OFFLINE is set"
    url = (endpoint or hub_endpoint()) + "/api/models?limit=1"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return 200 <= resp.status < 500, f"HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        return exc.code < 500, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, str(reason)


def check_hub(endpoint: str | None = None, source: str = "") -> Check:
    if endpoint is None:
        endpoint, source = resolve_endpoint()
    where = f" (from {source})" if source and source != "default" else ""
    ok, reason = hub_reachable(endpoint)
    if ok:
        return Check("hub", "Hugging Face hub", "pass", f"{endpoint}{where} reachable")
    return Check(
        "hub",
        "Hugging Face hub",
        "warn",
        f"{endpoint}{where} unreachable ({reason})",
        "use the offline demo model, or switch to another endpoint, e.g. https://hf-mirror.com",
    )


def _token_source() -> str:
    if os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN"):
        return "HF_TOKEN"
    return "hf auth login"


def check_token(endpoint: str | None = None, verify: bool = False) -> Check:
    """Is a token configured, and (``verify``, needs the hub) whose is it?
    Never shows the token itself."""
    try:
        from huggingface_hub import get_token

        token = get_token()
    except Exception:
        token = None
    if not token:
        return Check(
            "token",
            "Hugging Face token",
            "warn",
            "no token (public models still download)",
            "for gated or private models: hf auth login (or set HF_TOKEN)",
        )
    source = _token_source()
    if not verify:
        return Check("token", "Hugging Face token", "pass", f"a token is configured (from {source})")
    try:
        name = whoami(endpoint=endpoint, token=token)
    except TuneDeckError as exc:
        if "rejected" in exc.message:
            return Check(
                "token",
                "Hugging Face token",
                "warn",
                f"the token from {source} was rejected",
                "it is invalid or expired: hf auth login --force (or fix HF_TOKEN)",
            )
        return Check(
            "token",
            "Hugging Face token",
            "pass",
            f"a token is configured (from {source}); could not check whose: {exc.message}",
        )
    return Check("token", "Hugging Face token", "pass", f"logged in as {name} (token from {source})")


def check_session() -> Check:
    """Where this terminal is. Runs train in a process of their own, so a
    dropped SSH link never ends one: this only says what a drop costs."""
    over_ssh = bool(os.environ.get("SSH_CONNECTION"))
    in_mux = bool(os.environ.get("TMUX") or os.environ.get("STY"))
    if over_ssh and not in_mux:
        where = "over SSH: a dropped link leaves a run training; start tunedeck again to see it"
    elif over_ssh:
        where = "over SSH inside tmux/screen: after a drop, reattach to the same view"
    else:
        where = "local terminal"
    return Check("session", "Terminal session", "pass", where)


def model_for(path: str | None):
    """The ModelInfo of a chosen model folder (None when there is none)."""
    if not path:
        return None

    return inspect_folder(path)


def check_model(path: str) -> Check:
    """The chosen model folder itself: a missing or broken one fails (it
    cannot be trained, however much memory there is)."""
    try:
        check_model_folder(path)
    except TuneDeckError as exc:
        return Check("model", "Model folder", "fail", exc.message, exc.hint)
    return Check("model", "Model folder", "pass", f"{path} loads with mlx-lm")


def run_checks(network: bool = True, model_path: str | None = None, device: Check | None = None) -> list[Check]:
    """``device``: check_mlx_device()'s result, made on the MLX thread by a
    caller that is not on it (the TUI); else it is made here."""
    checks = [check_platform(), check_python(), check_packages(), device or check_mlx_device()]
    blas = check_blas()
    if blas:
        checks.append(blas)
    if model_path:
        checks.append(check_model(model_path))
    model = model_for(model_path)
    checks += [check_memory(model), check_disk(model)]
    endpoint, source = resolve_endpoint()
    reachable = False
    if network:
        hub = check_hub(endpoint, source)
        reachable = hub.status == "pass"
        checks.append(hub)
    checks += [check_token(endpoint, verify=reachable), check_session()]
    return checks


def ready(checks: list[Check]) -> bool:
    return all(c.status != "fail" for c in checks)


def as_json(checks: list[Check]) -> dict:
    return {"ready": ready(checks), "checks": [asdict(c) for c in checks]}
