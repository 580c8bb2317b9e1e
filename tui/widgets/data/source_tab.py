"""Tab 1: where the rows come from, and the first of them.

The sources list, the path box, the hub's id/config/split boxes with the
configs and splits the hub lists for the id typed, and a table of raw rows.
Choosing a source posts ``LoadRequested`` (open it) or ``CheckRequested``
(an mlx-lm folder as it is); the hub lookup posts ``LookupRequested``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.suggester import Suggester
from textual.widgets import DataTable, Input, OptionList
from textual.widgets.option_list import Option

from core.models.hub import REPO_ID, resolve_endpoint
from tui.widgets.data.note import Note
from tui.widgets.data.tab import DataTab
from tui.widgets.status_line import Status

SAMPLE, SAMPLE_ROWS, FOLDER, HUB = "sample", "sample-rows", "folder", "hub"
LOOKUP_DELAY = 0.6  # seconds after the last keystroke in the id before the hub is asked for its configs
SUGGEST_DELAY = 0.3  # seconds of no typing before the hub is searched to complete the id


def _cell(value, width: int = 40) -> str:
    text = str(value).replace("\n", " ⏎ ")
    return text if len(text) <= width else text[: width - 1] + "…"


class HubIdSuggester(Suggester):
    """Completes a typed dataset id with the hub's most downloaded match (→ accepts it)."""

    def __init__(self, tab: SourceTab) -> None:
        super().__init__(use_cache=False, case_sensitive=True)  # cached here, per search text
        self.tab = tab
        self.found: dict[str, list[str]] = {}

    async def get_suggestion(self, value: str) -> str | None:
        text = value.strip()
        if len(text) < 3 or self.tab.app.session.hub_reachable is False:
            return None
        await asyncio.sleep(SUGGEST_DELAY)
        if self.tab.query_one("#hub-id", Input).value != value:
            return None  # typing went on: only the latest text is searched
        if text not in self.found:
            from core.data.hub_datasets import search_datasets

            try:  # network: on a thread (huggingface_hub only, endpoint passed: no shared state)
                self.found[text] = await asyncio.to_thread(search_datasets, text, endpoint=self.tab.endpoint())
            except Exception:  # a completion is a convenience (a failure here must not stop the app):
                return None  # loading the id says what is wrong
        return next((i for i in self.found[text] if i.lower().startswith(text.lower()) and i != text), None)


class SourceTab(DataTab):
    DEFAULT_CSS = """
    SourceTab #hub-row { display: none; }
    SourceTab OptionList { border: none; max-height: 4; }
    SourceTab #hub-lists { height: auto; display: none; }
    SourceTab #hub-lists OptionList { width: 1fr; margin: 0 1; }
    SourceTab Input#folder { height: 1; border: none; padding: 0 1; margin: 0 1; background: $boost; }
    SourceTab #raw { height: 1fr; }
    """

    class LoadRequested(Message):
        """Open ``spec`` (a path, "sample" or a hub id; ``hub`` has the endpoint for an id)."""

        def __init__(self, spec: str, config: str | None = None, split: str | None = None, **hub) -> None:
            super().__init__()
            self.spec, self.config, self.split, self.hub = spec, config, split, hub

    class CheckRequested(Message):
        """``folder`` is mlx-lm data already: check it as it is."""

        def __init__(self, folder: str) -> None:
            super().__init__()
            self.folder = folder

    class LookupRequested(Message):
        """Ask ``endpoint`` for the configs and splits of ``hub_id`` (its splits for ``config``)."""

        def __init__(self, hub_id: str, config: str | None, endpoint: str) -> None:
            super().__init__()
            self.hub_id, self.config, self.endpoint = hub_id, config, endpoint

    def __init__(self, title: str = "1 Source", *, id: str = "tab-source") -> None:
        super().__init__(title, id=id)
        self._lookup_timer = None
        self._focus_splits = False  # move to the split list when the lookup answers (a config was chosen)
        self.choices = None  # core.data.hub_datasets.Choices for the id typed, once the hub answered

    def compose(self) -> ComposeResult:
        yield OptionList(
            Option("Sample text-to-SQL dataset (generated here: 1000/100/100)", id=SAMPLE),
            Option("A file or folder: JSONL, JSON, CSV, Parquet, mlx-lm or saved dataset", id=FOLDER),
            Option("A Hugging Face dataset (id, config, split)", id=HUB),
            Option("Build from the sample's raw rows (question, context, answer)", id=SAMPLE_ROWS),
            id="sources",
        )
        yield Input(placeholder="path: data.csv, rows.jsonl, a folder…  (Enter loads)", id="folder")
        with Horizontal(id="hub-row", classes="row"):
            yield Input(
                placeholder="b-mc2/sql-create-context (Enter loads)",
                id="hub-id",
                suggester=HubIdSuggester(self),
            )
            yield Input(placeholder="config", id="hub-config", classes="short")
            yield Input(placeholder="split: train", id="hub-split", classes="short")
        with Horizontal(id="hub-lists"):  # what the hub reports, once the id is typed
            yield OptionList(id="hub-configs")
            yield OptionList(id="hub-splits")
        yield DataTable(id="raw", zebra_stripes=True, cursor_type="row")

    def on_mount(self) -> None:
        self.query_one("#raw", DataTable).display = False

    def endpoint(self) -> str:
        return resolve_endpoint(self.app.config)[0]

    # -- the sources list (the screen's list handlers choose; the hub's lists stop here) --
    @on(OptionList.OptionHighlighted, "#sources")
    def source_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.query_one("#hub-row").display = event.option.id == HUB
        self.query_one("#hub-lists").display = event.option.id == HUB and self.choices is not None

    @on(OptionList.OptionHighlighted, "#hub-configs, #hub-splits")
    def hub_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()  # a config or split is not a source to choose

    @on(OptionList.OptionSelected, "#hub-configs")
    def hub_config_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        config = str(event.option.id)
        self.query_one("#hub-config", Input).value = config
        self.query_one("#hub-split", Input).value = ""
        self.lookup_hub(config, focus_splits=True)

    @on(OptionList.OptionSelected, "#hub-splits")
    def hub_split_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.query_one("#hub-split", Input).value = str(event.option.id)
        self.load_hub()

    def open_hub(self) -> None:
        self.query_one("#hub-row").display = True
        self.screen.set_focus(self.query_one("#hub-id", Input))  # at once, as the Environment screen's box
        self.post_message(
            Note(
                Status(
                    "idle",
                    "Type a hub dataset id (owner/name): its configs and splits are listed below it; Enter loads.",
                )
            )
        )

    # -- Enter in a box --------------------------------------------------
    @on(Input.Submitted, "#folder")
    def folder_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        if not value:
            self.post_message(Note(Status("warning", "Type the path of a data file or folder first.")))
            return
        path = Path(value).expanduser().resolve()
        if path.is_dir() and (path / "train.jsonl").is_file():
            self.post_message(self.CheckRequested(str(path)))  # already mlx-lm data: check it as it is
        else:
            self.post_message(self.LoadRequested(str(path)))

    @on(Input.Submitted, "#hub-id, #hub-config, #hub-split")
    def hub_submitted(self) -> None:
        self.load_hub()

    def load_hub(self) -> None:
        hub_id = self.query_one("#hub-id", Input).value.strip()
        if not hub_id:
            self.post_message(Note(Status("warning", "Type a dataset id such as b-mc2/sql-create-context.")))
            return
        if self._lookup_timer is not None:
            self._lookup_timer.stop()
        self.post_message(
            self.LoadRequested(
                hub_id,
                self.query_one("#hub-config", Input).value.strip() or None,
                self.query_one("#hub-split", Input).value.strip() or None,
                endpoint=self.endpoint(),
                ui="tui",
            )
        )

    # -- the hub's configs and splits ------------------------------------
    @on(Input.Changed, "#hub-id")
    def hub_id_changed(self) -> None:
        # Ask the hub once typing pauses; a newer id replaces the answer (see show_choices).
        if self._lookup_timer is not None:
            self._lookup_timer.stop()
        self.choices = None
        self.query_one("#hub-lists").display = False
        self._lookup_timer = self.set_timer(LOOKUP_DELAY, self.lookup_hub)

    def lookup_hub(self, config: str | None = None, focus_splits: bool = False) -> None:
        if self._lookup_timer is not None:  # this lookup answers for the typing too: none comes after it
            self._lookup_timer.stop()
            self._lookup_timer = None
        hub_id = self.query_one("#hub-id", Input).value.strip().strip("/")
        if len(hub_id) < 3 or not REPO_ID.match(hub_id):
            return
        if self.app.session.hub_reachable is False:  # each lookup would wait for a time-out
            self.post_message(
                Note(
                    Status(
                        "warning",
                        f"{self.endpoint()} was unreachable at the environment check, so configs and "
                        "splits cannot be listed. Enter loads (a copy prepared earlier works offline); "
                        "e on the Environment screen switches the endpoint.",
                    )
                )
            )
            return
        self._focus_splits = focus_splits
        self.post_message(self.LookupRequested(hub_id, config, self.endpoint()))

    def lookup_failed(self) -> None:
        self.query_one("#hub-lists").display = False

    def show_choices(self, choices) -> Status | None:
        """List what the hub answered; returns what to say of it (None: the answer is stale)."""
        if choices.repo_id != self.query_one("#hub-id", Input).value.strip().strip("/"):
            return None  # the id was changed since: a newer answer is on its way
        self.choices = choices
        configs = self.query_one("#hub-configs", OptionList)
        configs.clear_options()
        configs.add_options([Option(name, id=name) for name in choices.configs])
        if choices.config in choices.configs:
            configs.highlighted = choices.configs.index(choices.config)
        splits = self.query_one("#hub-splits", OptionList)
        splits.clear_options()
        splits.add_options(
            [
                Option(f"{name}  ({choices.rows[name]:,} rows)" if name in choices.rows else name, id=name)
                for name in choices.splits
            ]
        )
        if choices.splits:
            splits.highlighted = choices.splits.index("train") if "train" in choices.splits else 0
        self.query_one("#hub-config", Input).placeholder = choices.config or "config"
        self.query_one("#hub-lists").display = True
        if choices.config is None:
            note = Status(
                "warning",
                f"{choices.repo_id} has {len(choices.configs)} configs and no default: ↓ and Enter choose one.",
            )
        else:
            where = f"config {choices.config}: splits {', '.join(choices.splits) or '?'}"
            note = Status(
                "ok",
                f"{choices.repo_id} ({len(choices.configs)} config"
                f"{'s' if len(choices.configs) != 1 else ''}), {where}.\n"
                "Enter loads; ↓ chooses another config or split (Enter on a split loads it).",
            )
        if self._focus_splits and choices.splits:
            splits.focus()
        return note

    def focus_hub_lists(self) -> None:
        """↓ from the hub fields goes to the configs the hub listed (or the splits)."""
        focused = self.app.focused
        if focused is None or not (focused.id or "").startswith("hub-") or self.choices is None:
            return
        target = "#hub-splits" if focused.id == "hub-split" or len(self.choices.configs) <= 1 else "#hub-configs"
        self.query_one(target, OptionList).focus()

    # -- the raw rows ----------------------------------------------------
    def show_rows(self, source) -> None:
        table = self.query_one("#raw", DataTable)
        table.clear(columns=True)
        table.add_columns(*source.columns)
        width = max(12, 76 // max(1, len(source.columns)) - 2)  # every column on screen at 80
        for row in source.head(6):
            table.add_row(*(_cell(row.get(c, ""), width) for c in source.columns))
        table.display = True

    def forget_rows(self) -> None:
        self.query_one("#raw", DataTable).display = False
