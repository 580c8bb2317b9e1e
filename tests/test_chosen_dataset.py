"""Screens never go on with a dataset other than the one shown: a failed
check leaves no dataset chosen (n stays, the step bar does not say Data
done, s on Train refuses), the Check tab never hangs on "Checking…", and the
Train screen names the model and data a run uses."""

import asyncio
import json

from textual.widgets import Input
from ui_helpers import at_step, text_of, wait_for

from core.runtime import paths


def broken_folder(tmp_path):
    d = tmp_path / "mine"
    d.mkdir()
    good = json.dumps({"text": "fine"})
    (d / "train.jsonl").write_text(f"{good}\n{{oops\n")
    (d / "valid.jsonl").write_text(f"{good}\n")
    return d


async def load_folder(pilot, screen, folder):
    screen.show_tab("tab-source")
    screen.query_one("#sources").highlighted = 1  # "a file or folder"
    await pilot.press("enter")
    screen.query_one("#folder", Input).value = str(folder)
    await pilot.press("enter")


def test_a_failed_check_unchooses_the_earlier_dataset(demo_model, sample_data, tmp_path):
    async def run():
        async with at_step("data", model_path=demo_model, pause=0.2) as (app, pilot, notes):
            screen = app.screen
            await pilot.press("enter")  # the sample: its check passes
            await wait_for(pilot, lambda: app.session.data_dir == str(paths.sample_data_dir()))
            assert "data" in app.session.steps_done

            await load_folder(pilot, screen, broken_folder(tmp_path))
            await wait_for(pilot, lambda: "training would fail" in text_of(screen, "#status"))
            status = text_of(screen, "#status")
            assert "No dataset is chosen (not sample-sql either)" in status
            assert app.session.data_dir is None and "data" not in app.session.steps_done
            assert "mine/train.jsonl:2: error: invalid JSON" in text_of(screen, "#preview")
            await pilot.press("n")
            assert app.current_mode == "data"  # n does not go on

            app.go("train")  # and s has nothing to train on: it says so
            await pilot.pause(0.3)
            train = app.screen
            assert " 3 Data " in str(train.query_one("StepBar").render())  # not "✓ Data"
            assert "Choose a model (step 2) and a dataset (step 3) first" in text_of(train, "#subject")
            await pilot.press("s")
            await pilot.pause(0.2)
            assert train.job is None
            assert any("dataset (step 3)" in n.message for n in notes)

            app.go("data")  # the sample again: a bar drawn before shows it done when seen again
            await pilot.pause(0.2)
            screen.show_tab("tab-source")
            screen.query_one("#sources").highlighted = 0
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.session.data_dir == str(paths.sample_data_dir()))
            app.go("train")
            await pilot.pause(0.3)
            assert "✓ Data" in str(train.query_one("StepBar").render())
            assert text_of(train, "#subject").startswith("s trains tunedeck-demo on ")

    asyncio.run(run())


def test_the_check_tab_shows_a_failing_check_instead_of_hanging(monkeypatch, sample_data):
    import tui.screens.dataset as dataset_screen

    def broken(folder):
        raise PermissionError(13, "Permission denied", f"{folder}/train.jsonl")

    monkeypatch.setattr(dataset_screen, "check_folder", broken)

    async def run():
        async with at_step("data", pause=0.2) as (app, pilot, notes):
            screen = app.screen
            await pilot.press("enter")  # the sample
            await wait_for(pilot, lambda: "✗" in text_of(screen, "#status"), timeout=20)
            status = text_of(screen, "#status")
            assert "Checking" not in status and "train.jsonl: permission denied" in status
            assert "fix: choose a place you may" in status and "No dataset is chosen" in status
            assert app.session.data_dir is None

    asyncio.run(run())


def test_the_train_screen_names_the_model_and_data(demo_model, sample_data):
    async def run():
        async with at_step("train", model_path=demo_model, data_dir=sample_data, pause=0.3) as (app, pilot, notes):
            subject = text_of(app.screen, "#subject")
            assert subject.startswith("s trains tunedeck-demo on ") and subject.endswith("data/sample-sql")
            region = app.screen.query_one("#subject").region
            assert region.height == 1 and region.right <= 80

    asyncio.run(run())
