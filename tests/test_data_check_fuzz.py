"""Fuzzing the data checker: thousands of mutated JSONL files (see
tests/jsonl_fuzz.py). None may crash it or take long, and none it passes may
then be refused by mlx-lm's own dataset loader with the demo tokenizer."""

from __future__ import annotations

import signal
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonl_fuzz import jsonl_files, verdicts, write_folder

FILES = 2000  # about 15 s on 2 idle cores; `python tests/jsonl_fuzz.py N` runs more
SECONDS_PER_FILE = 10.0  # generous: the slowest seen on a loaded machine is 3 s, typically < 0.5 s


@pytest.fixture(scope="module")
def demo_tokenizer(demo_model):
    from core.data.token_stats import load_tokenizer

    return load_tokenizer(demo_model)


@contextmanager
def hang_guard(seconds: float):
    """Turn a hang into a failure (SIGALRM, main thread only)."""

    def fail(*_):
        raise AssertionError(f"the checker hung for more than {seconds} s")

    old = signal.signal(signal.SIGALRM, fail)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.slow
def test_fuzzed_files_never_crash_and_never_pass_what_mlx_lm_refuses(tmp_path_factory, demo_tokenizer):
    root = tmp_path_factory.mktemp("fuzz")
    seen = [0]

    @settings(
        max_examples=FILES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )
    @given(jsonl_files(), st.booleans())
    def one_file(case, mask_prompt):
        _, data = case
        folder = write_folder(root / f"case{seen[0] % 4}", data)
        seen[0] += 1
        with hang_guard(SECONDS_PER_FILE * 4):
            v = verdicts(folder, demo_tokenizer, mask_prompt)
        assert v["crash"] is None, f"the checker crashed: {v['crash']!r}"
        assert v["seconds"] < SECONDS_PER_FILE
        report = v["report"]
        for p in report.problems:  # every problem says where, what and how to fix it
            assert p.where.startswith("case") and p.message and p.fix
            assert len(p.message) < 400
        assert v["mlx_lm_error"] is None, (
            f"the checker passed a file mlx-lm refuses ({v['mlx_lm_error']!r}): {data[:300]!r}"
        )

    one_file()
    assert seen[0] >= FILES
