"""A canary Hugging Face token through every command and the TUI's screens:
it is never printed, logged or written to any file TuneDeck makes.

The token is sent where it belongs (the stand-in hub rejects it, so the
"token rejected" paths run too); what is checked is everything TuneDeck
prints, every screen it draws, and every byte under its home, run, data,
fused and export folders (the log included)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import hub_standin
import pytest
from ui_helpers import wait_for

from tui.cli import main

hub = hub_standin.hub
CANARY = "hf_canaryTuneDeck0123456789abcdefXYZ"


def files_holding(root: Path, secret: bytes) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and not p.is_symlink() and secret in p.read_bytes()]


@pytest.mark.slow
def test_the_token_never_leaves_the_environment(hub, demo_model, tmp_path, monkeypatch, capfd):
    home = tmp_path / "home"
    monkeypatch.setenv("TUNEDECK_HOME", str(home))
    monkeypatch.setenv("HF_TOKEN", CANARY)
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    data, run, fused, studio = tmp_path / "data", tmp_path / "run", tmp_path / "fused", tmp_path / "lmstudio"
    printed = []

    def tunedeck(*argv, ok=True):
        try:
            rc = main(list(argv))
        except SystemExit as exc:  # --help
            rc = exc.code
        out = capfd.readouterr()
        printed.append(out.out + out.err)
        assert (rc == 0) == ok, f"tunedeck {' '.join(argv)} -> {rc}: {out.err[-500:]}"

    tunedeck("--help")
    tunedeck("doctor")  # online: the stand-in rejects the canary, and doctor says so
    assert "was rejected" in printed[-1]
    tunedeck("doctor", "--json", "--offline", "--model", demo_model)
    tunedeck("models", "--json")
    tunedeck("models", "search", "demo", "--endpoint", hub.url)
    tunedeck("models", "download", hub_standin.REPO, "--endpoint", hub.url, ok=False)
    assert "token was rejected" in printed[-1]
    tunedeck("data", "sample", str(data))
    tunedeck("data", "check", str(data), "--model", demo_model, "--limit", "50")
    tunedeck("data", "inspect", str(data / "train.jsonl"))
    tunedeck("data", "build", str(data / "train.jsonl"), "--out", str(tmp_path / "built"), "--sample", "40")
    tunedeck(
        "train",
        "--model",
        demo_model,
        "--data",
        str(data),
        "--iters",
        "4",
        "--steps-per-eval",
        "2",
        "--val-batches",
        "2",
        "--save-every",
        "2",
        "--out",
        str(run),
    )
    tunedeck("train", "--resume", str(run), "--iters", "6")
    tunedeck("runs")
    tunedeck("runs", "--json", "--dir", str(tmp_path))
    tunedeck(
        "eval",
        "--model",
        demo_model,
        "--adapter",
        str(run / "adapters"),
        "--data",
        str(data),
        "--task-score",
        "2",
        "--test-batches",
        "2",
    )
    tunedeck("fuse", "--model", demo_model, "--adapter", str(run / "adapters"), "--out", str(fused))
    studio.mkdir()  # a chosen LM Studio folder must exist
    tunedeck("export", "--model", str(fused), "--lmstudio", "--lmstudio-root", str(studio))
    tunedeck(
        "chat",
        "--model",
        demo_model,
        "--adapter",
        str(run / "adapters"),
        "--prompt",
        "hi",
        "--max-tokens",
        "4",
        "--save",
    )
    tunedeck("train", "-c", str(tmp_path / "missing.yaml"), ok=False)
    try:  # a failure that is logged with its traceback, holding the token
        raise RuntimeError(f"request failed with Authorization: Bearer {CANARY}")
    except RuntimeError:
        from core.runtime.log import log_exception

        assert log_exception("a hub request failed")

    screens = asyncio.run(_walk_the_tui(demo_model, str(data)))

    assert all(CANARY not in text for text in printed + screens)
    assert (home / "logs" / "tunedeck.log").is_file() and list(Path(fused).iterdir())
    for root in (home, data, run, fused, studio, tmp_path / "built", tmp_path / "hf-cache"):
        assert files_holding(root, CANARY.encode()) == [], root
    assert json.loads((run / "adapters" / "adapter_config.json").read_text())["model"] == demo_model


async def _walk_the_tui(demo_model: str, data: str) -> list[str]:
    """Every walkthrough screen, as drawn at 80x24 (the Environment screen
    checks the token against the stand-in hub)."""
    from tui.app import make_app

    drawn = []
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: getattr(app.screen, "checks", None))
        drawn.append(app.export_screenshot())
        app.session.model_path, app.session.data_dir = demo_model, data
        for mode in ("model", "data", "train", "chat"):
            app.go(mode)
            await pilot.pause(0.3)
            drawn.append(app.export_screenshot())
    return drawn
