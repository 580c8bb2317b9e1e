"""The Linux BLAS preload: the decision logic, and one real process start."""

import os
import subprocess
import sys

import pytest

from core.runtime import blas

FAKE = "/opt/fake/libopenblas.so.0"
BASE = dict(system="Linux", library=FAKE, reference_blas=True, mlx_loaded=False, config_allows=True)


def test_preloads_on_linux_with_reference_blas_and_a_fast_library():
    d = blas.decide(env={}, **BASE)
    assert d.preload == FAKE


@pytest.mark.parametrize(
    "change, reason",
    [
        (dict(system="Darwin"), "not Linux"),
        (dict(env={blas.OPT_OUT: "1"}), blas.OPT_OUT),
        (dict(env={"LD_PRELOAD": "/usr/lib/libopenblas.so.0"}), "already in LD_PRELOAD"),
        (dict(mlx_loaded=True), "already loaded"),
        (dict(config_allows=False), "config"),
        (dict(reference_blas=False), "does not bundle"),
        (dict(library=None), "apt-get install libopenblas0-pthread"),
    ],
)
def test_no_preload_when(change, reason):
    args = {**BASE, "env": {}, **change}
    d = blas.decide(**args)
    assert d.preload is None
    assert reason in d.reason


def test_opt_out_false_values_still_preload():
    assert blas.decide(env={blas.OPT_OUT: "0"}, **BASE).preload == FAKE


def test_find_fast_blas_takes_the_first_existing_candidate(tmp_path):
    lib = tmp_path / "libopenblas.so.0"
    lib.write_bytes(b"")
    assert blas.find_fast_blas((str(tmp_path / "missing.so"), str(lib))) == str(lib)
    assert blas.find_fast_blas((str(tmp_path / "missing.so"),)) is None


def test_preload_env_keeps_existing_preloads():
    env = blas.preload_env(FAKE, {"LD_PRELOAD": "/lib/other.so", "PATH": "/bin"})
    assert env["LD_PRELOAD"] == f"{FAKE}:/lib/other.so" and env["PATH"] == "/bin"


def test_a_library_that_does_not_load_is_reported_not_raised(tmp_path):
    bogus = tmp_path / "libopenblas.so.0"
    bogus.write_text("not a shared object")
    d = blas.maybe_preload(
        env={}, system="Linux", library=str(bogus), reference_blas=True, mlx_loaded=False, config_allows=True
    )
    assert d.preload is None and "could not load" in d.reason and blas.ACTIVE is None


def test_loaded_fast_blas_reads_maps():
    maps = (
        "7f00-7f01 r-xp 0 08:01 1 /usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblasp-r0.3.21.so\n"
        "7f02-7f03 r-xp 0 08:01 2 /venv/mlx_cpu.libs/libblas-bd8a282c.so.3.10.0\n"
    )
    assert "libopenblasp" in blas.loaded_fast_blas(maps)
    assert blas.loaded_fast_blas(maps.splitlines()[1]) is None


def test_config_can_turn_it_off(tunedeck_home):
    from core.runtime import app_config

    app_config.update(blas_preload=False)
    try:
        assert (
            "config" in blas.decide(env={}, system="Linux", library=FAKE, reference_blas=True, mlx_loaded=False).reason
        )
    finally:
        app_config.update(blas_preload=True)


@pytest.mark.skipif(
    sys.platform != "linux" or not blas.find_fast_blas() or not blas.mlx_bundles_reference_blas(),
    reason="needs Linux, the mlx-cpu wheel and an installed OpenBLAS",
)
def test_real_process_start_preloads_openblas():
    # The real entry point: `python -m tui doctor` loads the library before
    # mlx, so libmlx's cblas calls bind to OpenBLAS.
    env = {k: v for k, v in os.environ.items() if k not in (blas.OPT_OUT, "LD_PRELOAD")}
    out = subprocess.run([sys.executable, "-m", "tui", "doctor"], capture_output=True, text=True, env=env, timeout=60)
    line = next(x for x in out.stdout.splitlines() if "CPU BLAS" in x)
    assert "optimized BLAS in use" in line and "loaded by tunedeck" in line, out.stdout
    off = subprocess.run(
        [sys.executable, "-m", "tui", "doctor"],
        capture_output=True,
        text=True,
        env={**env, blas.OPT_OUT: "1"},
        timeout=60,
    )
    line = next(x for x in off.stdout.splitlines() if "CPU BLAS" in x)
    assert "reference BLAS in use" in line, off.stdout
