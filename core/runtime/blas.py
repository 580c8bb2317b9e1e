"""Use an optimized CPU BLAS on Linux: load OpenBLAS before mlx.

The Linux ``mlx-cpu`` wheel bundles netlib's reference BLAS
(``mlx_cpu.libs/libblas-*.so``): matrix products run ~40x slower than with
OpenBLAS on the same cores. Both export the standard CBLAS symbols, and the
dynamic loader resolves a library's symbols in the global scope first, so
opening OpenBLAS with ``RTLD_GLOBAL`` *before* ``libmlx.so`` is loaded makes
MLX's ``cblas_sgemm`` calls bind to it: the effect of ``LD_PRELOAD``, without
re-executing the process (a re-exec costs a second interpreter start, ~70 ms
of cold start here). ``tui.cli.main`` calls :func:`maybe_preload` first thing.

Turn it off with ``TUNEDECK_NO_BLAS_PRELOAD=1`` (or ``"blas_preload": false``
in the config file). This module must not import mlx (it runs first).
"""

from __future__ import annotations

import ctypes
import glob
import importlib.util
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from core.runtime import app_config

OPT_OUT = "TUNEDECK_NO_BLAS_PRELOAD"
INSTALL_HINT = "sudo apt-get install libopenblas0-pthread"

# Debian/Ubuntu (pthread, then openmp builds), Fedora/Arch-style paths.
# Every one exports cblas_sgemm & co with the reference ABI.
CANDIDATES = tuple(
    f"/usr/lib/{arch}-linux-gnu/{variant}/{name}"
    for arch in ("x86_64", "aarch64")
    for variant in ("openblas-pthread", "openblas-openmp")
    for name in ("libopenblas.so.0", "libblas.so.3")
) + tuple(
    f"{d}/libopenblas.so.0"
    for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib")
)
FAST_NAMES = ("openblas", "libblis", "libmkl_rt")  # what counts as "fast" in a path
ACTIVE: str | None = None  # the library maybe_preload loaded into this process


@dataclass(frozen=True)
class Decision:
    preload: str | None  # the library to preload, or None
    reason: str


def _ldconfig_paths() -> list[str]:
    """OpenBLAS libraries the loader cache knows about (``ldconfig -p``)."""
    for exe in ("/sbin/ldconfig", "/usr/sbin/ldconfig", "ldconfig"):
        try:
            out = subprocess.run([exe, "-p"], capture_output=True, text=True, timeout=2).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        return [line.split("=>")[-1].strip() for line in out.splitlines() if "libopenblas" in line and "=>" in line]
    return []


def find_fast_blas(candidates: tuple[str, ...] | None = None, use_ldconfig: bool = True) -> str | None:
    """The first optimized BLAS library present on this machine, or None."""
    for path in candidates if candidates is not None else CANDIDATES:
        if os.path.isfile(path):
            return path
    if use_ldconfig and candidates is None:
        return next((p for p in _ldconfig_paths() if os.path.isfile(p)), None)
    return None


def mlx_bundles_reference_blas() -> bool:
    """True when the installed mlx is the Linux CPU wheel with netlib BLAS.

    Found from the package's location without importing it (importing mlx
    would bind its BLAS calls before the preload)."""
    spec = importlib.util.find_spec("mlx")
    if spec is None or not spec.submodule_search_locations:
        return False
    # Every location: a stray ``mlx`` folder in the working directory makes
    # ``mlx`` a namespace package whose first location is not the wheel's.
    return any(
        glob.glob(str(Path(loc).parent / "mlx_cpu.libs" / "libblas-*.so*")) for loc in spec.submodule_search_locations
    )


def _config_allows() -> bool:
    try:
        return app_config.load().get("blas_preload", True) is not False
    except Exception:  # a broken config must never stop the app starting
        return True


def decide(
    env: dict | None = None,
    system: str | None = None,
    library: str | None = "auto",
    reference_blas: bool | None = None,
    mlx_loaded: bool | None = None,
    config_allows: bool | None = None,
) -> Decision:
    """Whether (and what) to preload. Every input can be given for tests."""
    env = os.environ if env is None else env
    system = system or platform.system()
    if system != "Linux":
        return Decision(None, f"not Linux ({system}): MLX uses Accelerate/Metal")
    if env.get(OPT_OUT, "").strip().lower() in ("1", "true", "yes", "on"):
        return Decision(None, f"{OPT_OUT} is set")
    if ACTIVE:
        return Decision(None, f"{ACTIVE} is already loaded")
    preloaded = env.get("LD_PRELOAD", "")
    if any(name in preloaded for name in FAST_NAMES):
        return Decision(None, "an optimized BLAS is already in LD_PRELOAD")
    if mlx_loaded if mlx_loaded is not None else "mlx" in sys.modules:
        return Decision(None, "mlx is already loaded in this process")
    if not (config_allows if config_allows is not None else _config_allows()):
        return Decision(None, "turned off in the config (blas_preload: false)")
    if not (reference_blas if reference_blas is not None else mlx_bundles_reference_blas()):
        return Decision(None, "this mlx build does not bundle the reference BLAS")
    path = find_fast_blas() if library == "auto" else library
    if not path:
        return Decision(None, f"no optimized BLAS found ({INSTALL_HINT})")
    return Decision(path, f"preloading {path}")


def preload_env(library: str, env: dict | None = None) -> dict:
    """A copy of ``env`` that preloads ``library`` in a child process."""
    env = dict(os.environ if env is None else env)
    rest = env.get("LD_PRELOAD", "")
    env["LD_PRELOAD"] = f"{library}:{rest}" if rest else library
    return env


def maybe_preload(**decide_args) -> Decision:
    """Load a fast BLAS into this process (globally) when it helps; call it
    before anything imports mlx. Never raises: the slow BLAS still works."""
    global ACTIVE
    decision = decide(**decide_args)
    if decision.preload is None:
        return decision
    try:
        ctypes.CDLL(decision.preload, mode=ctypes.RTLD_GLOBAL)
    except OSError as exc:  # unreadable / wrong architecture: keep the reference BLAS
        return Decision(None, f"could not load {decision.preload}: {exc}")
    ACTIVE = decision.preload
    return decision


def loaded_fast_blas(maps: str | None = None) -> str | None:
    """The optimized BLAS mapped into this process, if any (Linux)."""
    if maps is None:
        try:
            maps = Path("/proc/self/maps").read_text()
        except OSError:
            return None
    for line in maps.splitlines():
        path = line.split()[-1] if line.split() else ""
        if path.startswith("/") and any(name in path.lower() for name in FAST_NAMES):
            return path
    return None
