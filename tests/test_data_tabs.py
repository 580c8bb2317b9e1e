"""Each of the Data screen's tab widgets mounted alone in a tiny app: its
boxes, what it renders, and the messages it posts for the screen."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from textual import on
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Input, OptionList, TabbedContent
from ui_helpers import text_of

from core.data.check import check_folder
from core.data.hub_datasets import Choices
from core.data.sources import open_source
from tui.widgets.data.check_tab import CheckTab
from tui.widgets.data.map_tab import CUSTOM, MapTab
from tui.widgets.data.note import Note
from tui.widgets.data.source_tab import LOOKUP_DELAY, SourceTab
from tui.widgets.data.split_tab import SPLIT_INFO, SplitTab
from tui.widgets.status_line import Status, StatusLine

POSTED = (
    Note,
    SourceTab.LoadRequested,
    SourceTab.CheckRequested,
    SourceTab.LookupRequested,
    MapTab.Done,
    SplitTab.BuildRequested,
    CheckTab.TokensRequested,
)


class TabApp(App):
    """One tab, and every message the tabs post, as they reach the app."""

    def __init__(self, tab, hub_reachable: bool | None = None) -> None:
        super().__init__()
        self.tab, self.posted = tab, []
        self.session = SimpleNamespace(hub_reachable=hub_reachable)
        self.config = {"hf_endpoint": "http://hub.test"}

    def compose(self) -> ComposeResult:
        with TabbedContent():
            yield self.tab

    @on(Note)
    @on(SourceTab.LoadRequested)
    @on(SourceTab.CheckRequested)
    @on(SourceTab.LookupRequested)
    @on(MapTab.Done)
    @on(SplitTab.BuildRequested)
    @on(CheckTab.TokensRequested)
    def seen(self, message) -> None:
        self.posted.append(message)

    def last(self, kind):
        found = [m for m in self.posted if isinstance(m, kind)]
        assert found, f"no {kind.__qualname__} posted"
        return found[-1]


def run_in(tab, body, **app_options) -> None:
    async def run():
        app = TabApp(tab, **app_options)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await body(app, pilot)

    asyncio.run(run())


async def submit(pilot, app, box: str, value: str) -> None:
    field = app.query_one(box, Input)
    field.value = value
    field.focus()
    await pilot.press("enter")
    await pilot.pause()


def csv_source(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("question,answer\nhow many?,3\nwhich one?,the red\n", encoding="utf-8")
    return open_source(str(path))


def test_source_tab_sends_a_path_to_load_or_an_mlx_folder_to_check(tmp_path):
    (tmp_path / "ready").mkdir()
    (tmp_path / "ready" / "train.jsonl").write_text('{"text": "hi"}\n', encoding="utf-8")

    async def body(app, pilot):
        await submit(pilot, app, "#folder", "")
        assert app.last(Note).status == Status("warning", "Type the path of a data file or folder first.")
        await submit(pilot, app, "#folder", str(tmp_path / "ready"))
        assert app.last(SourceTab.CheckRequested).folder == str(tmp_path / "ready")
        await submit(pilot, app, "#folder", str(tmp_path / "rows.csv"))
        assert app.last(SourceTab.LoadRequested).spec == str(tmp_path / "rows.csv")
        await submit(pilot, app, "#hub-id", "")
        assert "Type a dataset id" in app.last(Note).status.message
        app.query_one("#hub-config", Input).value = "hard"
        await submit(pilot, app, "#hub-id", "acme/sql")
        load = app.last(SourceTab.LoadRequested)
        assert (load.spec, load.config, load.split) == ("acme/sql", "hard", None)
        assert load.hub["ui"] == "tui" and load.hub["endpoint"]

    run_in(SourceTab(), body)


def test_source_tab_lists_the_hubs_configs_and_splits():
    async def body(app, pilot):
        tab = app.tab
        app.query_one("#hub-id", Input).value = "acme/sql"
        await pilot.pause()  # typed: its lookup waits for the typing to pause
        tab.lookup_hub("hard")
        await pilot.pause(LOOKUP_DELAY + 0.2)  # the typing's own lookup would have come by now
        (ask,) = [m for m in app.posted if isinstance(m, SourceTab.LookupRequested)]
        assert (ask.hub_id, ask.config) == ("acme/sql", "hard")
        assert tab.show_choices(Choices("other/id", ["a"], "a", ["train"])) is None  # stale: the id changed
        said = tab.show_choices(Choices("acme/sql", ["easy", "hard"], "hard", ["test", "train"], {"train": 120}))
        assert said.kind == "ok" and "acme/sql (2 configs), config hard: splits test, train" in said.message
        configs, splits = app.query_one("#hub-configs", OptionList), app.query_one("#hub-splits", OptionList)
        assert configs.highlighted == 1 and splits.highlighted == 1
        assert "(120 rows)" in str(splits.get_option_at_index(1).prompt)
        splits.focus()
        await pilot.press("enter")  # a split chosen loads it
        await pilot.pause()
        load = app.last(SourceTab.LoadRequested)
        assert (load.spec, load.config, load.split) == (
            "acme/sql",
            None,
            "train",
        )  # the config box shows the hub's as its placeholder

    run_in(SourceTab(), body, hub_reachable=True)


def test_source_tab_says_why_it_cannot_list_an_unreachable_hub():
    async def body(app, pilot):
        app.query_one("#hub-id", Input).value = "acme/sql"
        app.tab.lookup_hub()
        await pilot.pause()
        note = app.last(Note).status
        assert note.kind == "warning" and "unreachable at the environment check" in note.message
        assert not any(isinstance(m, SourceTab.LookupRequested) for m in app.posted)

    run_in(SourceTab(), body, hub_reachable=False)


def test_source_tab_shows_and_forgets_raw_rows(tmp_path):
    source = csv_source(tmp_path)

    async def body(app, pilot):
        table = app.query_one("#raw", DataTable)
        assert not table.display
        app.tab.show_rows(source)
        assert table.display and table.row_count == 2 and len(table.columns) == 2
        app.tab.forget_rows()
        assert not table.display

    run_in(SourceTab(), body)


def test_map_tab_renders_the_templates_live_and_moves_on(tmp_path):
    source = csv_source(tmp_path)

    async def body(app, pilot):
        tab = app.tab
        assert text_of(tab, "#rendered") == "Load a source first."
        tab.show_source(source, None)  # no preset fits: your own templates
        await pilot.pause()
        assert tab.preset_name == CUSTOM  # the boxes keep the last preset's templates to edit
        app.query_one("#tpl-system", Input).value = "You answer."
        app.query_one("#tpl-user", Input).value = "Q: {question}"
        app.query_one("#tpl-assistant", Input).value = "{nope}"
        await pilot.pause()
        assert "✗" in str(app.query_one("#rendered").render()) and "\nfix: " in str(app.query_one("#rendered").render())
        app.query_one("#tpl-assistant", Input).value = "{answer}"
        await pilot.pause()
        rendered = str(app.query_one("#rendered").render())
        assert "Q: how many?" in rendered and "the red" in rendered
        assert tab.output_format() == "chat" and tab.current_preset().user == "Q: {question}"
        await submit(pilot, app, "#tpl-user", "Q: {question}")
        assert any(isinstance(m, MapTab.Done) for m in app.posted)
        tab.forget_source()
        assert text_of(tab, "#rendered") == "Load a source first."

    run_in(MapTab(), body)


def test_split_tab_says_a_bad_count_or_seed_as_it_is_typed():
    async def body(app, pilot):
        tab = app.tab
        assert (tab.sample, tab.seed, tab.split) == (None, 0, "80%,10%,10%")
        app.query_one("#sample", Input).value = "lots"
        await pilot.pause()
        info = app.query_one("#split-info", StatusLine)
        assert info.status.kind == "error" and info.status.message == "sample rows: 'lots' is not a count"
        assert "\nfix: type a whole number of at least 1" in str(info.render())
        app.query_one("#sample", Input).value = "all"
        app.query_one("#seed", Input).value = "-4"
        await pilot.pause()
        assert "seed: '-4' is not a seed" in str(app.query_one("#split-info").render())
        app.query_one("#seed", Input).value = "7"
        app.query_one("#sample", Input).value = "50"
        await pilot.pause()
        assert info.status == Status("idle", SPLIT_INFO) and tab.problem() is None
        assert (tab.sample, tab.seed) == (50, 7)
        tab.out = "/tmp/out"
        await submit(pilot, app, "#out", "/tmp/out")
        assert tab.out == "/tmp/out" and any(isinstance(m, SplitTab.BuildRequested) for m in app.posted)
        tab.show_build_failed()
        assert info.status.kind == "error" and "nothing was written" in str(info.render())

    run_in(SplitTab(), body)


def test_check_tab_shows_the_check_and_asks_for_tokens(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    for split in ("train", "valid"):
        (folder / f"{split}.jsonl").write_text('{"prompt": "2+2?", "completion": "4"}\n', encoding="utf-8")
    report = check_folder(str(folder))

    async def body(app, pilot):
        tab = app.tab
        assert tab.max_seq_length == 2048 and tab.mask_prompt
        tab.show_passed(report, {"prompt": "2+2?", "completion": "4"})
        preview = str(app.query_one("#preview").render())
        assert "First training example" in preview and "completion: 4" in preview
        app.query_one("#max-seq", Input).value = "lots"
        assert tab.max_seq_length is None
        await submit(pilot, app, "#max-seq", "512")
        assert tab.max_seq_length == 512 and any(isinstance(m, CheckTab.TokensRequested) for m in app.posted)
        tab.show_nothing()
        assert str(app.query_one("#preview").render()) == ""

    run_in(CheckTab(), body)
