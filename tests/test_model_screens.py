"""The Environment and Model screens at 80x24, driven with Pilot, against the
stand-in hub (tests/hub_standin.py)."""

from __future__ import annotations

import asyncio

import hub_standin
from hub_standin import REPO
from textual.widgets import DataTable, Input, ProgressBar, Static
from ui_helpers import at_step, screen_text, text_of, wait_for

from core.runtime import app_config
from core.runtime.doctor import Check
from tui.app import make_app
from tui.screens.environment import verdict
from tui.widgets.download_progress import DownloadProgressRow
from tui.widgets.status_line import StatusLine

hub = hub_standin.hub  # the stand-in hub fixture, served on 127.0.0.1


def rows(table: DataTable) -> list[str]:
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


def test_model_picker_lists_local_and_curated_and_downloads_with_progress(hub, demo_model, monkeypatch):
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    app_config.update(hf_endpoint=hub.url)  # as if switched on the Environment screen
    hub.state.delay = 0.04  # ~0.5 s for the weights: progress is visible, cancel lands mid-file

    async def run():
        async with at_step("model") as (app, pilot, notes):
            screen = app.screen
            local = screen.query_one("#local-table", DataTable)
            await wait_for(pilot, lambda: screen.local)  # the scan finished
            assert rows(local)[0].startswith("tunedeck-demo") and "folder" in rows(local)[-1]
            curated = screen.query_one("#curated-table", DataTable)
            assert "Qwen/Qwen2.5-0.5B-Instruct" in rows(curated)
            assert any(
                "fits" in str(curated.get_row_at(i)[-1]) or "won't" in str(curated.get_row_at(i)[-1])
                for i in range(curated.row_count)
            )
            await pilot.press("c")
            assert "LoRA training needs" in text_of(screen, "#about")

            await pilot.press("slash", *"demo", "enter")
            results = screen.query_one("#results-table", DataTable)
            await wait_for(pilot, lambda: results.row_count)
            assert rows(results) == [REPO] and results.has_focus

            await pilot.press("enter")  # download, then cancel it mid-way
            await wait_for(pilot, lambda: getattr(screen, "download_line", ""), 30)
            assert screen.query_one("#download").display
            await pilot.press("x")
            await wait_for(pilot, lambda: "cancelled" in text_of(screen, "#status"), 30)
            assert app.session.model_path is None  # nothing chosen from a partial download

            hub.state.delay = 0.01
            await pilot.press("enter")  # again: resumes and completes
            await wait_for(pilot, lambda: app.session.model_path, 30)
            bar = screen.query_one("#download", DownloadProgressRow).query_one(ProgressBar)
            assert bar.total and bar.progress == bar.total
            assert (
                "kB/" in screen.download_line and "/s" in screen.download_line and "7/7 files" in screen.download_line
            )
            assert REPO in text_of(screen, "#about")  # the local rescan did not overwrite it
            assert f"Using {REPO}" in text_of(screen, "#status")
            assert app.session.model_info.repo_id == REPO and app.session.model_info.complete
            await wait_for(pilot, lambda: any(m.repo_id == REPO for m in screen.local.values()))
            assert any(r.startswith(REPO) for r in rows(local))

    try:
        asyncio.run(run())
    finally:
        app_config.update(hf_endpoint=None)


def test_environment_screen_switches_the_endpoint(monkeypatch):
    monkeypatch.delenv("HF_ENDPOINT", raising=False)

    async def run():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: getattr(screen, "checks", None))
            await pilot.press("e")
            box = screen.query_one("#endpoint", Input)
            assert box.display and box.value == "https://huggingface.co"
            box.value = ""
            await pilot.press(*"hf-mirror.com", "enter")
            assert app.config["hf_endpoint"] == "https://hf-mirror.com"
            assert app_config.load()["hf_endpoint"] == "https://hf-mirror.com"
            await wait_for(pilot, lambda: any("hf-mirror.com (from app settings)" in c.detail for c in screen.checks))
            await pilot.pause()
            assert "Hugging Face hub: https://hf-mirror.com" in str(screen.query_one("#fix", Static).content)
            await pilot.press("e")
            box.value = ""
            await pilot.press(*"not a url", "enter")
            assert "not an endpoint URL" in str(screen.query_one("#fix", Static).content)

    try:
        asyncio.run(run())
    finally:
        app_config.update(hf_endpoint=None)


def test_keys_in_one_burst_with_e_never_leave_the_environment_screen():
    # "e" then "not…" as one read from the terminal (a paste, a slow SSH link):
    # the box had focus only after a refresh, so "n" went to the step.
    from textual import events

    async def run():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: getattr(screen, "checks", None))
            for key in "enot":
                app.post_message(events.Key(key, key))
            await pilot.pause(0.5)
            assert app.screen is screen and app.focused is screen.query_one("#endpoint", Input)

    asyncio.run(run())


def test_model_screen_folder_box_refuses_a_file_keeps_the_choice_and_esc_leaves(demo_model, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a model")

    async def run():
        async with at_step("model") as (app, pilot, toasts):
            screen = app.screen
            await wait_for(pilot, lambda: screen.local)
            await pilot.press("enter")  # the demo model (already built by the fixture)
            await wait_for(pilot, lambda: app.session.model_path)
            status = text_of(screen, "#status")
            assert "Using offline demo model" in status and "Press n for the dataset" in status
            await pilot.press("f")
            box = screen.query_one("#folder", Input)
            assert box.has_focus
            await pilot.press(*str(notes), "enter")
            status = text_of(screen, "#status")
            assert "is a file, not a model folder" in status and "fix: type the folder" in status
            assert "still using offline demo model" in status
            await pilot.press("escape")
            assert not box.display and screen.query_one("#local-table", DataTable).has_focus
            app.session.hub_reachable = None  # let the job run: HF_HUB_OFFLINE (conftest) fails it
            screen.start_download("nobody/missing")
            await wait_for(pilot, lambda: "cannot reach" in text_of(screen, "#status"), 60)
            assert not [n for n in toasts if n.severity == "error"]  # no toast over it

    asyncio.run(run())


def test_model_screen_a_missing_folder_fails_through_the_status_line(tmp_path):
    gone = tmp_path / "no-such-model"

    async def run():
        async with at_step("model") as (app, pilot, _):
            screen = app.screen
            await pilot.press("f")
            screen.query_one("#folder", Input).value = str(gone)
            await pilot.press("enter")
            status = screen.query_one("#status", StatusLine).status
            assert status.kind == "error" and status.message == f"model folder not found: {gone}"
            assert status.hint.startswith("check the path")
            shown = screen_text(app)
            assert "✗ model folder not found: " in shown and "fix: check the path" in shown
            assert app.session.model_path is None

    asyncio.run(run())


FAILING = [
    Check("python", "Python", "pass", "3.11.7"),
    Check("packages", "Packages", "fail", "mlx-lm missing", "pip install mlx-lm"),
    Check("device", "MLX device", "pass", "cpu"),
]


def test_environment_screen_a_failed_check_fails_through_the_status_line(monkeypatch):
    import core.runtime.doctor as doctor
    import tui.screens.environment as environment

    monkeypatch.setattr(environment, "run_checks", lambda **_: FAILING)
    monkeypatch.setattr(doctor, "check_mlx_device", lambda: FAILING[2])

    async def run():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: getattr(screen, "checks", None), 30)
            await pilot.pause()
            status = screen.query_one("#verdict", StatusLine).status
            assert (status.kind, status.hint) == ("error", "pip install mlx-lm")
            shown = screen_text(app)
            assert "✗ 1 problem(s) stop training: Packages." in shown and "fix: pip install mlx-lm" in shown
            assert screen.can_leave()

    asyncio.run(run())


def test_the_environment_verdict_kinds():
    passed = [FAILING[0]]
    warned = [*passed, Check("hub", "Hugging Face hub", "warn", "unreachable", "switch the endpoint")]
    assert verdict(passed).kind == "ok" and verdict(warned).kind == "warning"
    two = verdict([*FAILING, Check("disk", "Disk", "fail", "full", "free some space")])
    assert two.kind == "error" and "Packages, Disk" in two.message
    assert two.hint == "Packages: pip install mlx-lm (1 more: select each ✗ row for its fix)"
