"""The Data screen's hub source at 80x24, by keyboard, against the stand-in
hub: the id completed from the hub's search, configs and splits listed as
it is typed, progress, cancel, a failure in TUI words, and the seed's
100/25/25 build."""

from __future__ import annotations

import asyncio
import json
import threading

import hub_standin
import pytest
from hub_standin import SQL_DATASET, SQL_FILE
from test_hub_datasets import add_two_configs
from textual.widgets import Input, OptionList
from ui_helpers import text_of, wait_for

from tui.app import make_app

dataset_hub = hub_standin.dataset_hub


def fits(screen, selector):
    region = screen.query_one(selector).region
    return region.height > 0 and region.bottom <= 24 and region.right <= 80


def options(screen, selector) -> list[str]:
    found = screen.query_one(selector, OptionList)
    return [str(found.get_option_at_index(i).id) for i in range(found.option_count)]


@pytest.mark.slow
def test_hub_dataset_on_the_data_screen(dataset_hub, tmp_path, monkeypatch):
    add_two_configs(dataset_hub)
    release = dataset_hub.state.hold[SQL_FILE] = threading.Event()
    out = tmp_path / "sql"
    monkeypatch.setenv("HF_ENDPOINT", dataset_hub.url)  # the endpoint a mirror user sets

    async def run():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.session.hub_reachable is not None, 60)  # the environment check
            assert app.session.hub_reachable
            app.go("data")
            await pilot.pause(0.2)
            screen = app.screen
            await pilot.press("down", "down", "enter")  # "A Hugging Face dataset"
            assert app.focused.id == "hub-id"
            await pilot.press(*"acme/two-configs")  # the hub is asked once typing pauses
            await wait_for(pilot, lambda: screen.choices is not None, 60)
            await pilot.pause()  # the lists' region is laid out after the answer is shown
            assert options(screen, "#hub-configs") == ["easy", "hard"] and fits(screen, "#hub-lists")
            assert "2 configs and no default" in text_of(screen, "#status")

            await pilot.press("enter")  # no config chosen: the reason, with the fix in TUI words
            await wait_for(pilot, lambda: "✗" in text_of(screen, "#status"), 60)
            status = text_of(screen, "#status")
            assert "acme/two-configs has 2 configs and none is the default: easy, hard" in status
            assert "choose one in the config list under the id" in status and "--config" not in status

            await pilot.press("down")  # to the configs the hub listed
            assert app.focused.id == "hub-configs"
            await pilot.press("down", "down", "enter")  # easy, hard: Enter chooses hard, then its splits
            await wait_for(pilot, lambda: app.focused.id == "hub-splits", 60)
            assert screen.query_one("#hub-config", Input).value == "hard"
            assert options(screen, "#hub-splits") == ["train"]
            assert "150 rows" in str(screen.query_one("#hub-splits", OptionList).get_option_at_index(0).prompt)
            await pilot.press("enter")  # Enter on a split loads it
            await wait_for(pilot, lambda: screen.source is not None, 60)
            assert screen.source.details["config"] == "hard" and len(screen.source) == 150
            assert screen.query_one("#tabs").active == "tab-map"

            # The recipe's dataset: progress while it downloads, escape cancels mid-file.
            screen.show_tab("tab-source")
            await pilot.pause(0.1)
            screen.query_one("#hub-config", Input).value = ""
            hub_id = screen.query_one("#hub-id", Input)
            hub_id.value = ""
            hub_id.focus()
            await pilot.press(*"b-mc2/sq")  # the hub's search completes the id; → takes it
            await wait_for(pilot, lambda: hub_id._suggestion == SQL_DATASET, 30)
            await pilot.press("right", "enter")
            assert hub_id.value == SQL_DATASET
            await wait_for(pilot, lambda: "0/1 files" in text_of(screen, "#build-progress .progress-line"), 60)
            assert dataset_hub.state.holding.is_set() and fits(screen, "#build-progress")
            assert "escape or x cancels" in text_of(screen, "#status")
            await pilot.press("escape")
            await wait_for(pilot, lambda: "Stopped opening the source" in text_of(screen, "#status"), 10)
            assert not screen.query_one("#build-progress").display
            release.set()

            await pilot.press("enter")  # again: it downloads and opens
            await wait_for(pilot, lambda: screen.source is not None, 60)
            assert screen.source.spec == SQL_DATASET and screen.query_one("#tabs").active == "tab-map"
            await pilot.press("ctrl+n")  # → Split & write
            screen.query_one("#split", Input).value = "100,25,25"
            screen.query_one("#out", Input).value = str(out)
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.session.data_dir == str(out), 60)
            assert "train 100, valid 25, test 25" in text_of(screen, "#status")

    asyncio.run(run())
    manifest = json.loads((out / "tunedeck.json").read_text())
    assert (manifest["source"], manifest["config"], manifest["hf_split"]) == (SQL_DATASET, "default", "train")
