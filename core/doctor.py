"""The environment check behind the first screen and ``tunedeck doctor``.

Each check says pass / warn / fail with one line of detail and one line of
fix. Only a ``fail`` stops training; warnings are things a user should know
(CPU-only MLX, an unreachable hub, an SSH session outside tmux).
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from core import paths

PACKAGES = ("mlx", "mlx-lm", "textual", "datasets", "huggingface_hub")
DEFAULT_ENDPOINT = "https://huggingface.co"
OPENBLAS_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
    "/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
    "/usr/lib64/libopenblas.so.0",
    "/usr/lib/libopenblas.so.0",
)


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
            return Check("platform", "OS and chip", "fail", f"macOS {release} on {machine}",
                         "MLX needs Apple silicon (M1 or later)")
        if parts and parts < (13, 5):
            return Check("platform", "OS and chip", "fail", f"macOS {release} on Apple silicon",
                         "MLX needs macOS 13.5 or later: update macOS")
        return Check("platform", "OS and chip", "pass", f"macOS {release} on Apple silicon")
    if system == "Linux":
        return Check("platform", "OS and chip", "warn", f"Linux on {machine}: MLX runs on the CPU",
                     "fine for the offline demo; real models train far faster on a Mac")
    return Check("platform", "OS and chip", "fail", f"{system} on {machine}",
                 "MLX runs on macOS (Apple silicon) or Linux")


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
        return Check("packages", "Packages", "fail", f"missing: {', '.join(missing)}",
                     "reinstall: .venv/bin/pip install -e .")
    return Check("packages", "Packages", "pass", detail)


def check_mlx_device() -> Check:
    try:
        import mlx.core as mx  # deferred: ~0.2 s, and only this check needs it
    except Exception as exc:  # a broken wheel raises more than ImportError
        return Check("device", "MLX device", "fail", f"mlx does not import: {exc}",
                     "reinstall mlx: .venv/bin/pip install --force-reinstall mlx")
    if mx.metal.is_available():
        return Check("device", "MLX device", "pass", "GPU (Metal)")
    return Check("device", "MLX device", "warn", "CPU only (no Metal GPU)",
                 "expected on Linux; on a Mac, check you run a native arm64 Python")


def _loaded_libraries() -> str:
    try:
        return Path("/proc/self/maps").read_text()
    except OSError:
        return ""


def check_blas() -> Check | None:
    """Linux only: the mlx-cpu wheel bundles netlib's reference BLAS (slow);
    ``tunedeck`` preloads OpenBLAS automatically when it is installed."""
    from core import blas  # no mlx import there

    if platform.system() != "Linux":
        return None
    check_mlx_device()  # make sure libmlx (and its BLAS) is loaded
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
        return Check("blas", "CPU BLAS", "warn",
                     f"reference BLAS in use ({why}); OpenBLAS is installed at {available}",
                     f"unset {blas.OPT_OUT}, or start with LD_PRELOAD={available}, "
                     "for ~40x faster CPU matmuls" if off else
                     f"run through `tunedeck`, or start with LD_PRELOAD={available}")
    return Check("blas", "CPU BLAS", "warn", "reference BLAS in use (matmuls ~40x slower than OpenBLAS)",
                 f"{blas.INSTALL_HINT}; tunedeck then uses it automatically")


def check_memory() -> Check:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return Check("memory", "Memory", "warn", "could not read the memory size")
    gb = total / 2**30
    if gb < 8:
        return Check("memory", "Memory", "warn", f"{gb:.0f} GiB",
                     "stay with 0.5B models (or 4-bit ones) and batch size 1")
    return Check("memory", "Memory", "pass", f"{gb:.0f} GiB")


def check_disk() -> Check:
    where = paths.home()
    probe = where
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free / 2**30
    detail = f"{free:.1f} GiB free for {where}"
    if free < 1:
        return Check("disk", "Disk", "fail", detail, "free some disk space, or set TUNEDECK_HOME elsewhere")
    if free < 5:
        return Check("disk", "Disk", "warn", detail, "a 0.5B model needs ~1 GB, fused copies more")
    return Check("disk", "Disk", "pass", detail)


def hub_endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


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


def check_hub() -> Check:
    endpoint = hub_endpoint()
    ok, reason = hub_reachable(endpoint)
    if ok:
        return Check("hub", "Hugging Face hub", "pass", f"{endpoint} reachable")
    return Check("hub", "Hugging Face hub", "warn", f"{endpoint} unreachable ({reason})",
                 "use the offline demo model, or set HF_ENDPOINT (e.g. https://hf-mirror.com)")


def check_token() -> Check:
    try:
        from huggingface_hub import get_token
        token = get_token()
    except Exception:
        token = None
    if token:  # never show the token itself
        return Check("token", "Hugging Face token", "pass", "a token is configured")
    return Check("token", "Hugging Face token", "warn", "no token (public models still download)",
                 "for gated models: hf auth login")


def check_session() -> Check:
    over_ssh = bool(os.environ.get("SSH_CONNECTION"))
    in_mux = bool(os.environ.get("TMUX") or os.environ.get("STY"))
    if over_ssh and not in_mux:
        return Check("session", "Terminal session", "warn", "over SSH, not inside tmux or screen",
                     "a dropped connection ends a run: start with `tmux new -s tunedeck`")
    where = "over SSH inside tmux/screen" if over_ssh else "local terminal"
    return Check("session", "Terminal session", "pass", where)


def run_checks(network: bool = True) -> list[Check]:
    checks = [check_platform(), check_python(), check_packages(), check_mlx_device()]
    blas = check_blas()
    if blas:
        checks.append(blas)
    checks += [check_memory(), check_disk()]
    if network:
        checks.append(check_hub())
    checks += [check_token(), check_session()]
    return checks


def ready(checks: list[Check]) -> bool:
    return all(c.status != "fail" for c in checks)


def as_json(checks: list[Check]) -> dict:
    return {"ready": ready(checks), "checks": [asdict(c) for c in checks]}
