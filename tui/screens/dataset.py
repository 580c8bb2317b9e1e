"""Step 3: the training data, built from any source and checked before training.

Four tabs, one per step of the flow, each reachable by keyboard:
Source (pick and preview raw rows) → Map (preset, format, column templates,
rendered examples) → Split (sample, split, seed, folder; write) → Check
(every line, token lengths against the model, the masked preview). The
ready-made sample and an existing mlx-lm folder go straight to Check.
Loading, building and tokenizing run as engine jobs, so the UI stays live.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.suggester import Suggester
from textual.widgets import Checkbox, DataTable, Input, Label, OptionList, Select, Static, TabbedContent, TabPane
from textual.widgets.option_list import Option

from core.data import records
from core.data.check import CheckReport, check_folder
from core.data.folder import read_manifest, read_rows
from core.data.presets import FORMATS, PRESETS, check_columns, custom_preset, suggest_preset
from core.models.hub import REPO_ID, resolve_endpoint
from core.runtime import events as ev
from core.runtime import paths
from core.runtime.errors import TuneDeckError
from core.runtime.targets import DATASET
from tui.screens.base import ChoiceScreen
from tui.screens.confirm import refusal_text, write_checked
from tui.widgets.download_progress import DownloadProgressRow

SAMPLE, SAMPLE_ROWS, FOLDER, HUB = "sample", "sample-rows", "folder", "hub"
TABS = ("tab-source", "tab-map", "tab-split", "tab-check")
CUSTOM = "custom"
ALL_ROWS = ("", "all")  # what the sample rows box takes for every row (its placeholder says all)
KEEP = "keep"  # format option: the rows' own (preset as-is)
JOB_NAMES = {
    "open-data": "opening the source",
    "build-data": "the build",
    "data-tokens": "tokenizing",
    "sample-data": "writing the sample",
}
LOOKUP_DELAY = 0.6  # seconds after the last keystroke in the id before the hub is asked for its configs
SUGGEST_DELAY = 0.3  # seconds of no typing before the hub is searched to complete the id
STYLE = {"prompt": "dim italic", "trained-prompt": "bold", "trained": "bold green", "cut": "red strike"}


class Checked(Message):
    """A check's outcome: its report, or ``error`` (a TuneDeckError) when the check itself failed."""

    def __init__(self, folder: str, report: CheckReport | None, example: dict | None, error=None) -> None:
        super().__init__()
        self.folder, self.report, self.example, self.error = folder, report, example, error


class HubIdSuggester(Suggester):
    """Completes a typed dataset id with the hub's most downloaded match (→ accepts it)."""

    def __init__(self, screen: DatasetScreen) -> None:
        super().__init__(use_cache=False, case_sensitive=True)  # cached here, per search text
        self.screen = screen
        self.found: dict[str, list[str]] = {}

    async def get_suggestion(self, value: str) -> str | None:
        text = value.strip()
        if len(text) < 3 or self.screen.app.session.hub_reachable is False:
            return None
        await asyncio.sleep(SUGGEST_DELAY)
        if self.screen.query_one("#hub-id", Input).value != value:
            return None  # typing went on: only the latest text is searched
        if text not in self.found:
            from core.data.hub_datasets import search_datasets

            try:  # network: on a thread (huggingface_hub only, endpoint passed: no shared state)
                self.found[text] = await asyncio.to_thread(search_datasets, text, endpoint=self.screen._endpoint())
            except Exception:  # a completion is a convenience (a failure here must not stop the app):
                return None  # loading the id says what is wrong
        return next((i for i in self.found[text] if i.lower().startswith(text.lower()) and i != text), None)


def render_example(example: dict | None) -> Text:
    text = Text()
    if not example:
        return text
    kind = records.kind_of(example)
    if kind == "chat":
        for m in example["messages"]:
            role = m.get("role", "?")
            style = {"system": "dim", "user": "bold", "assistant": "bold green"}.get(role, "")
            text.append(f"{role:>9}: ", style="bold")
            text.append(str(m.get("content", "")).replace("\n", " ⏎ ") + "\n", style=style)
    elif kind == "completions":
        text.append("   prompt: ", style="bold").append(str(example["prompt"]).replace("\n", " ⏎ ") + "\n")
        text.append("completion: ", style="bold").append(str(example["completion"]) + "\n", style="green")
    else:
        text.append(str(example.get("text", ""))[:400].replace("\n", " ⏎ ") + "\n")
    return text


def render_tokens(report) -> Text:
    """The first example as training sees it: masked prompt vs trained tokens."""
    masked, trained = report.preview_tokens
    text = Text()
    text.append("masked (not trained on)", style=STYLE["prompt"]).append("  ")
    text.append("trained", style=STYLE["trained"]).append("  ")
    text.append("cut by max_seq_length", style=STYLE["cut"])
    text.append(f"   {masked} masked / {trained} trained tokens\n")
    for seg in report.preview:
        text.append(seg.text, style=STYLE[seg.kind])
    return text


def _whole(text: str) -> int:
    """The whole number typed; -1 (never a valid count or seed) for anything else."""
    try:
        return int(text)
    except ValueError:
        return -1


def _cell(value, width: int = 40) -> str:
    text = str(value).replace("\n", " ⏎ ")
    return text if len(text) <= width else text[: width - 1] + "…"


class DatasetScreen(ChoiceScreen):
    STEP = "data"
    NEXT = "train"
    BACK = "model"
    GUIDE = (
        "Step 3: data as mlx-lm's train/valid/test.jsonl: source → map columns → split & write → "
        "check. ctrl+n/ctrl+p switch tabs."
    )
    BINDINGS = [
        Binding("ctrl+r", "write", "Write", id="data-write"),
        Binding("ctrl+g", "tokens", "Tokens", id="data-tokens"),
        Binding("escape", "cancel_job", "Cancel", id="data-cancel", show=False),
        Binding("x", "cancel_job", "Cancel", id="data-cancel-x", show=False),
        Binding("down", "hub_lists", "Configs/splits", id="data-hub-lists", show=False),
        Binding("ctrl+n", "tab(1)", "Next tab", id="data-next-tab"),
        Binding("ctrl+p", "tab(-1)", "Prev tab", id="data-prev-tab", show=False),
    ]
    DEFAULT_CSS = """
    DatasetScreen TabbedContent { height: 1fr; }
    DatasetScreen TabPane { padding: 0; }
    DatasetScreen .row { height: 1; padding: 0 1; }
    DatasetScreen .row Label { padding: 0 1 0 0; }
    DatasetScreen .row Input { height: 1; border: none; padding: 0 1; background: $boost; width: 1fr; }
    DatasetScreen .row Input:focus { background: $primary 30%; }
    DatasetScreen .row Input.short { width: 14; margin: 0 1 0 0; }
    DatasetScreen .row Select { width: 1fr; height: 1; margin: 0 1 0 0; }
    DatasetScreen .row Select > SelectCurrent { border: none; height: 1; padding: 0 1; }
    DatasetScreen .row Checkbox { border: none; height: 1; padding: 0; background: transparent; }
    DatasetScreen #hub-row { display: none; }
    DatasetScreen OptionList { border: none; max-height: 4; }
    DatasetScreen #hub-lists { height: auto; display: none; }
    DatasetScreen #hub-lists OptionList { width: 1fr; margin: 0 1; }
    DatasetScreen Input#folder { height: 1; border: none; padding: 0 1; margin: 0 1; background: $boost; }
    DatasetScreen #raw { height: 1fr; }
    DatasetScreen #rendered, DatasetScreen #split-info, DatasetScreen #token-info,
    DatasetScreen #token-preview { padding: 0 1; height: auto; }
    DatasetScreen #token-preview { margin: 0 0 1 0; }
    DatasetScreen #check-body { height: 1fr; }
    DatasetScreen #token-plot { height: 12; display: none; }
    DatasetScreen #status { max-height: 4; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.source = None  # core.data.rows.Source, once loaded
        self._job = None  # the running engine job (cancel with escape)
        self._tokens_for: str | None = None
        self._lookup_timer = None
        self._lookup_job = None  # the latest configs/splits lookup (older answers are ignored)
        self._focus_splits = False  # move to the split list when the lookup answers (a config was chosen)
        self.choices = None  # core.data.hub_datasets.Choices for the id typed, once the hub answered

    # -- layout ----------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        with TabbedContent(id="tabs"):
            with TabPane("1 Source", id="tab-source"):
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
            with TabPane("2 Map", id="tab-map"):
                with Horizontal(classes="row"):
                    yield Label("preset")
                    yield Select(
                        [(p.name, p.name) for p in PRESETS.values()] + [("custom: your own templates", CUSTOM)],
                        id="preset",
                        allow_blank=False,
                        value="text-to-sql",
                    )
                    yield Label("format")
                    yield Select(
                        [(f, f) for f in FORMATS] + [("as in source", KEEP)],
                        id="format",
                        allow_blank=False,
                        value="chat",
                        classes="short",
                    )
                for role in ("system", "user", "assistant"):
                    with Horizontal(classes="row"):
                        yield Label(f"{role:>9}")
                        yield Input(placeholder="{column} template", id=f"tpl-{role}")
                with VerticalScroll(id="map-body"):
                    yield Static("Load a source first.", id="rendered")
            with TabPane("3 Split & write", id="tab-split"):
                with Horizontal(classes="row"):
                    yield Label("sample rows")
                    yield Input(placeholder="all", id="sample", classes="short")
                    yield Label("split")
                    yield Input("80%,10%,10%", id="split", classes="short")
                    yield Label("seed")
                    yield Input("0", id="seed", classes="short")
                with Horizontal(classes="row"):
                    yield Label("folder")
                    yield Input(placeholder="output folder", id="out")
                yield Static(self.SPLIT_INFO, id="split-info")
            with TabPane("4 Check", id="tab-check"):
                with Horizontal(classes="row"):
                    yield Label("max_seq_length")
                    yield Input("2048", id="max-seq", classes="short")
                    yield Checkbox("mask prompt", id="mask", value=True)
                with VerticalScroll(id="check-body"):
                    yield Static("", id="token-info")
                    yield Static("", id="token-preview")
                    yield Static("", id="preview", classes="detail")
        yield DownloadProgressRow(id="build-progress")  # downloads and build steps, on any tab
        yield Static("No dataset chosen yet.", id="status", classes="status")
        yield from self.compose_bottom()

    def on_mount(self) -> None:
        self.query_one("#raw", DataTable).display = False
        # The app stylesheet gives #preview 1fr (it outranks DEFAULT_CSS); here
        # it sits in a scroll area below the plot, so it takes its own height.
        self.query_one("#preview").styles.height = "auto"

    # -- tabs ------------------------------------------------------------
    def show_tab(self, tab: str) -> None:
        tabs = self.query_one("#tabs", TabbedContent)
        tabs.active = tab
        # Focus inside the new pane: TabbedContent follows focus, so focus left
        # in a hidden pane would switch straight back. The Check pane focuses
        # the tab bar, so n/b (next/back step) work there.
        target = {"tab-source": "#sources", "tab-map": "#preset", "tab-split": "#sample"}.get(tab)
        widget = self.query_one(target) if target else tabs.query_one("Tabs")
        widget.focus()

    def action_tab(self, step: int) -> None:
        tabs = self.query_one("#tabs", TabbedContent)
        self.show_tab(TABS[(TABS.index(tabs.active) + step) % len(TABS)])

    # -- source ----------------------------------------------------------
    # The base screen's handlers see only the sources list: the hub's lists
    # prevent its default (a config or split is not a source to choose).
    @on(OptionList.OptionHighlighted, "#sources")
    def source_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.query_one("#hub-row").display = event.option.id == HUB
        self.query_one("#hub-lists").display = event.option.id == HUB and self.choices is not None

    @on(OptionList.OptionHighlighted, "#hub-configs, #hub-splits")
    def hub_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.prevent_default()

    @on(OptionList.OptionSelected, "#hub-configs")
    def hub_config_selected(self, event: OptionList.OptionSelected) -> None:
        event.prevent_default()
        config = str(event.option.id)
        self.query_one("#hub-config", Input).value = config
        self.query_one("#hub-split", Input).value = ""
        self.lookup_hub(config, focus_splits=True)

    @on(OptionList.OptionSelected, "#hub-splits")
    def hub_split_selected(self, event: OptionList.OptionSelected) -> None:
        event.prevent_default()
        self.query_one("#hub-split", Input).value = str(event.option.id)
        self.load_hub()

    def choose(self, which: str) -> None:
        if which == SAMPLE:
            target = paths.sample_data_dir()
            if read_manifest(target).get("preset") == "text-to-sql":
                self.check(str(target))
            else:

                def write(overwrite: bool) -> None:
                    self.set_status("Writing the sample dataset…")
                    self.track(self.app.engine.write_sample_data(target, overwrite=overwrite))

                write_checked(self, target, DATASET, write, lambda exc: self.set_status(refusal_text(exc)))
        elif which == SAMPLE_ROWS:
            self.load_source("sample")
        elif which == HUB:
            self.query_one("#hub-row").display = True
            self.query_one("#hub-id", Input).focus()
            self.set_status(
                "Type a hub dataset id (owner/name): its configs and splits are listed below it; Enter loads."
            )
        else:
            self.ask_for_folder()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()  # each box's Enter is handled below, on this screen only

    @on(Input.Submitted, "#folder")
    def folder_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        if not value:
            self.set_status("Type the path of a data file or folder first.")
            return
        path = Path(value).expanduser().resolve()
        if path.is_dir() and (path / "train.jsonl").is_file():
            self.check(str(path))  # already mlx-lm data: check it as it is
        else:
            self.load_source(str(path))

    @on(Input.Submitted, "#hub-id, #hub-config, #hub-split")
    def hub_submitted(self) -> None:
        self.load_hub()

    @on(Input.Submitted, "#tpl-system, #tpl-user, #tpl-assistant")
    def template_submitted(self) -> None:
        self.show_tab("tab-split")

    @on(Input.Submitted, "#sample, #split, #seed, #out")
    def split_submitted(self) -> None:
        self.action_write()

    @on(Input.Submitted, "#max-seq")
    def max_seq_submitted(self) -> None:
        self.action_tokens()

    def load_source(self, spec: str, config: str | None = None, split: str | None = None, **hub) -> None:
        self.set_status(f"Opening {spec}…")
        self._job = self.track(self.app.engine.open_data_source(spec, config, split, **hub))

    # -- hub datasets ----------------------------------------------------
    def _endpoint(self) -> str:
        return resolve_endpoint(self.app.config)[0]

    def load_hub(self) -> None:
        hub_id = self.query_one("#hub-id", Input).value.strip()
        if not hub_id:
            self.set_status("Type a dataset id such as b-mc2/sql-create-context.")
            return
        if self._lookup_timer is not None:
            self._lookup_timer.stop()
        endpoint = self._endpoint()
        self.load_source(
            hub_id,
            self.query_one("#hub-config", Input).value.strip() or None,
            self.query_one("#hub-split", Input).value.strip() or None,
            endpoint=endpoint,
            ui="tui",
        )
        self.query_one("#build-progress", DownloadProgressRow).start(f"asking {endpoint}…")
        self.set_status(f"Opening {hub_id} from {endpoint}… (escape or x cancels)")

    @on(Input.Changed, "#sample, #seed")
    def split_numbers_changed(self) -> None:
        self.show_split_info()  # a mistake is said by the box, and goes once it is fixed

    @on(Input.Changed, "#tpl-system, #tpl-user, #tpl-assistant")
    def template_changed(self) -> None:
        self.render_preview()

    @on(Input.Changed, "#hub-id")
    def hub_id_changed(self) -> None:
        # Ask the hub once typing pauses; a newer id replaces the answer (see on "hub-choices").
        if self._lookup_timer is not None:
            self._lookup_timer.stop()
        self.choices = None
        self.query_one("#hub-lists").display = False
        self._lookup_timer = self.set_timer(LOOKUP_DELAY, self.lookup_hub)

    def lookup_hub(self, config: str | None = None, focus_splits: bool = False) -> None:
        hub_id = self.query_one("#hub-id", Input).value.strip().strip("/")
        if len(hub_id) < 3 or not REPO_ID.match(hub_id):
            return
        if self.app.session.hub_reachable is False:  # each lookup would wait for a time-out
            self.set_status(
                f"{self._endpoint()} was unreachable at the environment check, so configs and "
                "splits cannot be listed. Enter loads (a copy prepared earlier works offline); "
                "e on the Environment screen switches the endpoint."
            )
            return
        self._focus_splits = focus_splits
        self.set_status(f"Asking {self._endpoint()} for the configs and splits of {hub_id}…")
        self._lookup_job = self.track(self.app.engine.hub_dataset_choices(hub_id, config, self._endpoint()))

    def show_choices(self, choices) -> None:
        if choices.repo_id != self.query_one("#hub-id", Input).value.strip().strip("/"):
            return  # the id was changed since: a newer answer is on its way
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
            self.set_status(
                Text(
                    f"{choices.repo_id} has {len(choices.configs)} configs and no default: ↓ and Enter choose one.",
                    style="yellow",
                )
            )
        else:
            where = f"config {choices.config}: splits {', '.join(choices.splits) or '?'}"
            self.set_status(
                Text(
                    f"✓ {choices.repo_id} ({len(choices.configs)} config"
                    f"{'s' if len(choices.configs) != 1 else ''}), {where}.\n",
                    style="green",
                ).append("Enter loads; ↓ chooses another config or split (Enter on a split loads it).", style="")
            )
        if self._focus_splits and choices.splits:
            splits.focus()

    def action_hub_lists(self) -> None:
        """↓ from the hub fields goes to the configs the hub listed (or the splits)."""
        focused = self.app.focused
        if focused is None or not (focused.id or "").startswith("hub-") or self.choices is None:
            return
        target = "#hub-splits" if focused.id == "hub-split" or len(self.choices.configs) <= 1 else "#hub-configs"
        self.query_one(target, OptionList).focus()

    def show_source(self, source) -> None:
        self.source = source
        table = self.query_one("#raw", DataTable)
        table.clear(columns=True)
        table.add_columns(*source.columns)
        width = max(12, 76 // max(1, len(source.columns)) - 2)  # every column on screen at 80
        for row in source.head(6):
            table.add_row(*(_cell(row.get(c, ""), width) for c in source.columns))
        table.display = True
        suggested = suggest_preset(source.columns)
        self.set_status(
            Text(f"✓ {source.describe()}\n", style="bold green").append(
                f"Preset: {suggested or 'none fits, write templates'}. Enter in a template: split & write.", style=""
            )
        )
        self.query_one("#preset", Select).value = suggested or CUSTOM
        self.query_one("#format", Select).value = KEEP if suggested == "as-is" else "chat"
        self.fill_templates()
        stem = Path(source.spec.rstrip("/")).stem.replace("/", "-") or "data"
        self.query_one("#out", Input).value = str(paths.data_dir() / f"{stem}-{suggested or 'custom'}")
        self.show_tab("tab-map")

    def forget_source(self) -> None:
        """A source that failed to open replaces the last one: its rows must not
        stay on screen (or be built by ctrl+r) under the new file's error."""
        self.source = None
        self.query_one("#raw", DataTable).display = False
        self.query_one("#rendered", Static).update("Load a source first.")

    # -- mapping ---------------------------------------------------------
    @on(Select.Changed, "#preset")
    def preset_changed(self) -> None:
        self.fill_templates()  # which renders the preview

    @on(Select.Changed, "#format")
    def format_changed(self) -> None:
        self.render_preview()

    def fill_templates(self) -> None:
        name = self.query_one("#preset", Select).value
        preset = PRESETS.get(name)
        for role in ("system", "user", "assistant"):
            box = self.query_one(f"#tpl-{role}", Input)
            box.disabled = name == "as-is"
            if preset is not None:
                box.value = getattr(preset, role).replace("\n", "\\n")
        self.render_preview()

    def templates(self) -> dict[str, str]:
        return {
            role: self.query_one(f"#tpl-{role}", Input).value.replace("\\n", "\n")
            for role in ("system", "user", "assistant")
        }

    def current_preset(self):
        name = self.query_one("#preset", Select).value
        t = self.templates()
        if name == CUSTOM:
            return custom_preset(t["user"], t["assistant"], t["system"])
        return PRESETS[name].with_templates(**t) if name != "as-is" else PRESETS[name]

    def output_format(self) -> str | None:
        """None keeps the rows' own format (as-is), else chat when 'keep' makes no sense."""
        value = self.query_one("#format", Select).value
        if value == KEEP:
            return None if self.query_one("#preset", Select).value == "as-is" else "chat"
        return value

    def render_preview(self) -> None:
        out = self.query_one("#rendered", Static)
        if self.source is None:
            return
        from core.data.build import render_rows

        try:
            preset = self.current_preset()
            check_columns(preset, self.source.columns)
            rows = render_rows(self.source, preset, self.output_format() or "", range(min(3, len(self.source))))
        except TuneDeckError as exc:
            out.update(Text(f"✗ {exc.message}\n{exc.hint}", style="bold red"))
            return
        text = Text()
        for i, record, problem in rows:
            text.append(f"{self.source.where(i)}\n", style="bold underline")
            if record is None:
                text.append(f"  skipped: {problem}\n", style="red")
            else:
                text.append_text(render_example(record))
        out.update(text)

    # -- writing ---------------------------------------------------------
    SPLIT_INFO = "Enter or ctrl+r writes the folder (built aside, renamed when complete)."

    def split_problem(self) -> str | None:
        """What is wrong with the sample rows or seed typed, if anything."""
        sample = self.query_one("#sample", Input).value.strip()
        seed = self.query_one("#seed", Input).value.strip() or "0"
        if sample.lower() not in ALL_ROWS and _whole(sample) < 1:
            return (
                f"sample rows: {sample!r} is not a count. Type a whole number of at least 1, "
                "or all (or leave it blank) for every row."
            )
        if not 0 <= _whole(seed) < 2**32:
            return f"seed: {seed!r} is not a seed. Type a whole number from 0 to 4294967295."
        return None

    def show_split_info(self) -> None:
        problem = self.split_problem()
        self.query_one("#split-info", Static).update(
            Text(f"✗ {problem}", style="bold red") if problem else self.SPLIT_INFO
        )

    def action_write(self) -> None:
        if self.source is None:
            self.notify("Load a source first (tab 1).", severity="warning")
            return
        from core.data.build import BuildSpec

        value = lambda wid: self.query_one(f"#{wid}", Input).value.strip()  # noqa: E731
        problem = self.split_problem()
        if problem:
            self.show_tab("tab-split")
            self.show_split_info()
            return
        sample = None if value("sample").lower() in ALL_ROWS else _whole(value("sample"))
        seed = _whole(value("seed") or "0")
        if not value("out"):
            self.notify("Give the output folder.", severity="warning")
            return
        name = self.query_one("#preset", Select).value
        t = self.templates() if name != "as-is" else {}
        spec = BuildSpec(
            source=self.source.spec,
            out=str(Path(value("out")).expanduser().resolve()),
            preset=name,
            format=self.output_format(),
            sample=sample,
            split=value("split") or "80%,10%,10%",
            seed=seed,
            config=self.source.details.get("config"),
            hf_split=self.source.details.get("split"),
            system=t.get("system"),
            user=t.get("user"),
            assistant=t.get("assistant"),
        )
        self.show_tab("tab-split")

        def build(overwrite: bool) -> None:
            spec.overwrite = overwrite
            self.show_split_info()  # an earlier build's failure no longer applies
            self.query_one("#build-progress", DownloadProgressRow).start()
            self.set_status(f"Building {spec.out}… (escape cancels)")
            self._job = self.track(self.app.engine.build_dataset(spec, self.source))

        write_checked(self, spec.out, DATASET, build, lambda exc: self.set_status(refusal_text(exc)))

    def action_cancel_job(self) -> None:
        if self._job is not None and not self._job.done:
            self._job.cancel()
            self.set_status("Cancelling…")
        elif isinstance(self.focused, Input):
            # Nothing to cancel: Esc leaves the box, for the tab's list (or its tab bar).
            tabs = self.query_one("#tabs", TabbedContent)
            (self.query_one("#sources") if tabs.active == "tab-source" else tabs.query_one("Tabs")).focus()

    # -- engine events ---------------------------------------------------
    def handle_event(self, event: ev.Event) -> None:
        progress = self.query_one("#build-progress", DownloadProgressRow)
        if isinstance(event, ev.DownloadProgress):
            progress.show(event)
            self.set_status(f"Downloading {event.repo_id}… escape or x cancels; finished files are kept.")
        elif isinstance(event, ev.Progress):
            if event.job_id != getattr(self._lookup_job, "id", None):  # a lookup's steps stay off the status
                self.set_status(f"… {event.message}")
            if event.total:
                progress.show(event)
        elif isinstance(event, ev.JobFinished):
            if event.name == "hub-choices":
                self.show_choices(event.result)
            elif event.name == "sample-data":
                self.check(str(paths.sample_data_dir()))
            elif event.name == "open-data":
                progress.stop()
                self.show_source(event.result)
            elif event.name == "build-data":
                progress.stop()
                self.check(event.result["out"])
            elif event.name == "data-tokens":
                self.show_tokens(event.result)
        elif isinstance(event, ev.JobFailed):
            if event.name == "hub-choices":
                if event.job_id != getattr(self._lookup_job, "id", None):
                    return  # for an id typed before: a newer lookup answers
                self.query_one("#hub-lists").display = False
                if "was not found" in event.message:  # most likely typing is not done: no alarm
                    self.set_status(Text(f"{event.message}: keep typing (→ takes the completion shown)", style="dim"))
                    return
            else:
                progress.stop()
            if event.name == "open-data":
                self.forget_source()
            status = Text(f"✗ {event.located}", style="bold red")
            if event.hint:
                status.append(f"\n  fix: {event.hint}", style="")
            if self.app.session.data_dir:  # say which dataset n would go on with
                status.append(f"\nStill chosen: {self.app.session.data_dir}", style="")
            self.set_status(status)
            if event.name == "build-data":
                self.query_one("#split-info", Static).update(
                    Text("✗ The build stopped (below); nothing was written.", style="red")
                )
        elif isinstance(event, ev.JobCancelled) and event.name != "hub-choices":
            progress.stop()
            what = JOB_NAMES.get(event.name, event.name)
            more = {
                "build-data": " Nothing was written.",
                "open-data": " Nothing half-downloaded was kept; files that finished are in the Hugging Face "
                "cache, so Enter loads again from there.",
            }.get(event.name, "")
            self.set_status(f"Stopped {what}.{more}")

    # -- checking --------------------------------------------------------
    def check(self, folder: str) -> None:
        # The folder being checked replaces the chosen one at once: until it
        # passes, no dataset is chosen, so n cannot go on with another one.
        self._replaced = self.app.session.data_dir if self.app.session.data_dir != folder else None
        self.app.session.data_dir = None
        self.refresh_stepbar()
        self._checking = folder
        self.show_tab("tab-check")
        for plot in self.query("#token-plot"):
            plot.display = False
        self.query_one("#token-info", Static).update("")
        self.query_one("#token-preview", Static).update("")
        self.set_status(f"Checking every line of {folder}…")
        self.run_check(folder)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def run_check(self, folder: str) -> None:
        try:
            report = check_folder(folder)  # pure Python streaming: fine on a plain thread
            example = None
            if report.ok:
                example = (read_rows(Path(folder) / "train.jsonl", limit=1) or [None])[0]
        except Exception as exc:  # the tab must never stay on "Checking…"
            from core.runtime.errors import explain
            from core.runtime.log import log_exception

            error = explain(exc)
            if error is None:
                path = log_exception(f"checking {folder} failed")
                error = TuneDeckError(
                    f"the check stopped: {type(exc).__name__}: {exc}",
                    f"this looks like a bug; details are in {path or 'no log'}",
                )
            self.post_message(Checked(folder, None, None, error))
            return
        self.post_message(Checked(folder, report, example))

    def on_checked(self, message: Checked) -> None:
        if message.folder != getattr(self, "_checking", None):
            return  # a newer check was asked for since
        report = message.report
        preview = self.query_one("#preview", Static)
        if report is None or not report.ok:
            self.show_check_failed(message)
        else:
            self.app.session.data_dir = message.folder
            status = Text(f"✓ {report.summary()}\n", style="bold green")
            status.append(f"{message.folder}   n: train · ctrl+g: token lengths", style="")
            self.set_status(status)
            text = Text("First training example:\n", style="bold") + render_example(message.example)
            for p in report.problems[:3]:
                text.append(f"{p}\n", style="yellow")
            preview.update(text)
        self.refresh_stepbar()

    def show_check_failed(self, message: Checked) -> None:
        """The status says why, and that no dataset is chosen now."""
        self.app.session.data_dir = None
        report, status = message.report, Text()
        if report is None:
            status.append(
                f"✗ {message.error.where + ': ' if message.error.where else ''}{message.error.message}",
                style="bold red",
            )
            if message.error.hint:
                status.append(f"\n  fix: {message.error.hint}")
            self.query_one("#preview", Static).update("")
        else:
            status.append(f"✗ {report.summary()}", style="bold red")
            lines = [str(p) for p in report.problems[:12]]
            if report.errors + report.warnings > 12:
                lines.append(f"… run `tunedeck data check {message.folder}` for all of them")
            self.query_one("#preview", Static).update("\n".join(lines))
        earlier = getattr(self, "_replaced", None)
        status.append(
            "\nNo dataset is chosen"
            + (f" (not {Path(earlier).name} either)" if earlier else "")
            + ": fix this one and load it again, or choose another."
        )
        self.set_status(status)

    # -- tokens ----------------------------------------------------------
    def action_tokens(self) -> None:
        folder, model = self.app.session.data_dir, self.app.session.model_path
        if not folder:
            self.notify("Check a dataset first.", severity="warning")
            return
        if not model:
            self.notify("Choose a model first (step 2): its tokenizer measures the lengths.", severity="warning")
            return
        try:
            max_seq = int(self.query_one("#max-seq", Input).value)
        except ValueError:
            self.notify("max_seq_length must be a whole number", severity="error")
            return
        self.show_tab("tab-check")
        self.set_status(f"Tokenizing {folder} with {Path(model).name}… (escape cancels)")
        self._job = self.track(
            self.app.engine.data_tokens(folder, model, max_seq, self.query_one("#mask", Checkbox).value, limit=20000)
        )

    def show_tokens(self, report) -> None:
        self.token_report = report
        lines = Text()
        for split in report.splits.values():
            style = "yellow" if split.over else ""
            lines.append(split.summary(report.max_seq_length) + "\n", style=style)
        self.query_one("#token-info", Static).update(lines)
        self.query_one("#token-preview", Static).update(render_tokens(report))
        self.plot_tokens(report)
        verdict = (
            f"{report.truncated} example(s) longer than {report.max_seq_length} tokens will be cut"
            if report.truncated
            else f"every example fits in {report.max_seq_length} tokens"
        )
        self.set_status(
            Text(
                ("⚠ " if report.truncated else "✓ ") + verdict,
                style="bold yellow" if report.truncated else "bold green",
            )
        )

    def plot_tokens(self, report) -> None:
        # Deferred: textual-plotext imports plotext, which costs start-up time.
        from textual_plotext import PlotextPlot

        if not self.query("#token-plot"):
            self.query_one("#check-body").mount(PlotextPlot(id="token-plot"), after="#token-info")
        plot = self.query_one("#token-plot", PlotextPlot)
        plot.display = True
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        for split in report.splits.values():
            if split.lengths:
                plt.hist(split.lengths, bins=20, label=split.name)
        longest = max((max(s.lengths) for s in report.splits.values() if s.lengths), default=0)
        if report.max_seq_length <= longest * 1.5:  # else the line would squash the bars
            plt.vline(report.max_seq_length, "red")
            plt.title(f"tokens per example (red line: max_seq_length {report.max_seq_length})")
        else:
            plt.title(f"tokens per example (all under max_seq_length {report.max_seq_length})")
        plot.refresh()

    def can_leave(self) -> str | None:
        return None if self.app.session.data_dir else "Build or choose a dataset, and check it, first."
