"""Step 2: choose the base model: one on this machine, a curated one, or a
hub search result, downloaded with progress (cancellable, resumable)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Input, Static, TabbedContent, TabPane
from textual.worker import get_current_worker

from core.models.curated import CURATED, Curated
from core.models.demo_model import is_demo_model
from core.models.hub import resolve_endpoint
from core.models.model_folder import check_model_folder
from core.models.model_info import ModelInfo, format_params, format_size, inspect_folder
from core.runtime import events as ev
from core.runtime import paths
from core.runtime.errors import TuneDeckError
from core.runtime.memory import FITS, TIGHT, total_memory
from core.runtime.targets import DEMO_MODEL
from tui.screens.base import StepScreen
from tui.screens.confirm import write_checked
from tui.widgets.download_progress import DownloadProgressRow
from tui.widgets.status_line import Status, StatusLine

DEMO, FOLDER = "demo", "folder"
FIT_STYLE = {FITS: "green", TIGHT: "yellow"}
LOCAL_COLUMNS = ("Model", "Size", "Params", "Bits", "Arch", "mlx", "Training")


class LocalScanned(Message):
    def __init__(self, models: list[ModelInfo]) -> None:
        super().__init__()
        self.models = models


class SearchDone(Message):
    def __init__(self, text: str, results: list, error: TuneDeckError | None) -> None:
        super().__init__()
        self.text, self.results, self.error = text, results, error


def short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def fit_cell(est) -> Text:
    if est is None:
        return Text("?")
    return Text(f"{est.need_gb:.1f} GB {est.verdict}", style=FIT_STYLE.get(est.verdict, "red"))


def middle(text: str, width: int) -> str:
    """Shorten a path in the middle: its start and its name both stay visible."""
    if len(text) <= width:
        return text
    keep = width - 1
    return text[: keep // 2] + "…" + text[-(keep - keep // 2) :]


def describe(info: ModelInfo) -> str:
    """Two lines: what the model is, then where it is (one line at 80 columns)."""
    bits = f", {info.bits}-bit" if info.bits else ""
    return (
        f"{info.model_type}, {info.layers or '?'} layers, hidden {info.hidden_size or '?'}"
        f"{bits} · {format_params(info.parameters)} params · {format_size(info.size_bytes)}"
        f"\n{middle(info.path, 76)}"
    )


class ModelScreen(StepScreen):
    STEP = "model"
    NEXT = "data"
    BACK = "env"
    GUIDE = (
        "Step 2: the base model. Local: on this machine (the offline demo needs no network). "
        "Curated: small instruct models to download. / searches the hub. Enter chooses."
    )
    BINDINGS = [
        Binding("l", "tab('local')", "Local", id="tab-local"),
        Binding("c", "tab('curated')", "Curated", id="tab-curated"),
        Binding("slash", "search", "Search", id="search"),
        Binding("f", "folder", "Folder", id="folder"),
        Binding("x", "cancel_download", "Cancel", id="cancel-download"),
        Binding("escape", "close_input", "Back to the list", id="close-input", show=False),
    ]
    DEFAULT_CSS = """
    ModelScreen TabbedContent { height: 1fr; }
    ModelScreen TabPane { padding: 0; }
    ModelScreen DataTable { height: 1fr; }
    ModelScreen Input#search { margin: 0 1; }
    ModelScreen #about { height: auto; max-height: 2; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.local: dict[str, ModelInfo] = {}
        self.results: dict[str, object] = {}
        self.download_job = None
        self.download_repo = ""
        self.memory = total_memory()

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        with TabbedContent(id="sources", initial="local"):
            with TabPane("Local", id="local"):
                yield DataTable(id="local-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Curated", id="curated"):
                yield DataTable(id="curated-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Search hub", id="search-tab"):
                yield Input(placeholder="search the hub, e.g. qwen instruct; Enter searches", id="search")
                yield DataTable(id="results-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="about", classes="detail")
        yield Input(placeholder="path/to/model-folder (config.json + *.safetensors + tokenizer); Enter", id="folder")
        yield DownloadProgressRow(id="download")
        yield StatusLine("No model chosen yet.", id="status", classes="status")
        yield from self.compose_bottom()

    def on_mount(self) -> None:
        self.query_one("#folder", Input).display = False
        local = self.query_one("#local-table", DataTable)
        self._fill_local([])  # the demo and folder rows at once; the cache scan fills in
        curated = self.query_one("#curated-table", DataTable)
        curated.add_columns("Model", "Download", "Params", "Bits", "LoRA training")
        for c in CURATED:
            est = c.estimate(self.memory)
            name = c.repo_id + (" (gated)" if c.gated else "")
            curated.add_row(
                short(name, 32),
                format_size(c.download_bytes),
                format_params(c.parameters),
                str(c.bits or 16),
                fit_cell(est),
                key=f"hub:{c.repo_id}",
            )
        self.query_one("#results-table", DataTable).add_columns("Model", "Downloads", "Size", "Params", "Arch")
        local.focus()
        self.scan_local()

    # -- local models ----------------------------------------------------------------
    @work(thread=True, exclusive=True, group="scan", exit_on_error=False)
    def scan_local(self) -> None:
        from core.models.model_info import local_models  # reads headers of every cached model: off the UI thread

        try:
            found = local_models()
        except Exception:
            found = []
        self.post_message(LocalScanned(found))

    def on_local_scanned(self, message: LocalScanned) -> None:
        self._fill_local(message.models)

    def _fill_local(self, models: list[ModelInfo]) -> None:
        table = self.query_one("#local-table", DataTable)
        keep = None
        if table.row_count and table.cursor_row is not None:
            keep = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        table.clear(columns=True)  # columns size to their content: re-add them
        table.add_columns(*LOCAL_COLUMNS)
        self.local = {m.path: m for m in models}
        demo = next((m for m in models if m.source == "demo" and Path(m.path) == paths.demo_model_dir()), None)
        if demo is None:
            table.add_row(
                "tunedeck-demo (offline)",
                "~1 MB",
                "164.4k",
                "-",
                "qwen2",
                Text("✓", style="green"),
                Text("builds here", style="green"),
                key=DEMO,
            )
        else:
            self._add_local(table, demo, DEMO, "tunedeck-demo (offline)")
        for m in models:
            if m is not demo:
                self._add_local(table, m, f"local:{m.path}", m.name)
        table.add_row(Text("A model folder on this disk…", style="italic"), "", "", "", "", "", "", key=FOLDER)
        if keep is not None:
            try:
                table.move_cursor(row=table.get_row_index(keep))
            except Exception:
                pass

    def _add_local(self, table: DataTable, m: ModelInfo, key: str, label: str) -> None:
        if not m.complete:
            label += " (incomplete)"
        table.add_row(
            Text(short(label, 26), style="" if m.complete else "dim"),
            format_size(m.size_bytes),
            format_params(m.parameters),
            str(m.bits or "-"),
            short(m.model_type, 8),
            Text("✓", style="green") if m.supported else Text("✗", style="red"),
            fit_cell(m.estimate(self.memory)),
            key=key,
        )

    # -- what the highlighted row is -------------------------------------------------
    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # A refill of a hidden tab's table (the local scan after a download)
        # highlights its first row too: only the visible tab speaks.
        pane = self.query_one(TabbedContent).active
        if event.data_table.id != ("results-table" if pane == "search-tab" else f"{pane}-table"):
            return
        key = event.row_key.value if event.row_key else None
        self.query_one("#about", Static).update(self._about(key))
        self.query_one("#folder", Input).display = key == FOLDER

    def _about(self, key: str | None) -> str:
        if key == DEMO:
            return (
                "Offline demo: a tiny random Qwen2 with a tokenizer trained on the sample data; "
                "built here, no network. It shows every step working, not good answers."
            )
        if key == FOLDER:
            return "A model folder already on this disk, e.g. one you fused earlier: type its path below."
        if key and key.startswith("local:"):
            m = self.local.get(key[6:])
            if m and m.problem:  # two lines at most: the reason matters more than the path
                return short(f"✗ {m.problem}", 150)
            if m:
                return describe(m)
        if key and key.startswith("hub:"):
            repo = key[4:]
            c = next((c for c in CURATED if c.repo_id == repo), None)
            if c is not None:
                return self._about_curated(c)
            r = self.results.get(repo)
            if r is not None:
                return (
                    f"{repo}: {r.model_type}"
                    + (f", {r.bits}-bit" if r.bits else "")
                    + (" · gated: accept its licence on the hub and log in" if r.gated else "")
                    + (" · in the cache: Enter uses it" if self._cached(repo) else " · Enter downloads")
                )
        return ""

    def _about_curated(self, c: Curated) -> str:
        est = c.estimate(self.memory)
        mem = f"{self.memory / 2**30:.0f} GiB" if self.memory else "?"
        text = (
            f"{c.repo_id}: ~{format_size(c.download_bytes)} download; LoRA training needs "
            f"~{est.need_gb:.1f} GB of this machine's {mem} ({est.verdict})."
        )
        if c.gated:
            text += " Gated: accept its licence on the hub, then `hf auth login`."
        return text + (" In the cache: Enter uses it." if self._cached(c.repo_id) else " Enter downloads.")

    # -- choosing ----------------------------------------------------------------------
    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.choose(event.row_key.value)

    def choose(self, key: str) -> None:
        if self.download_job is not None:
            self.set_status(f"Downloading {self.download_repo}: wait for it, or press x to cancel it.", "warning")
            return
        if self.app.engine.busy:
            self.set_status(
                "A job (training or chat) is running: wait for it, or stop it, before changing the model.", "warning"
            )
            return
        if key == DEMO:
            target = paths.demo_model_dir()
            if is_demo_model(target):
                self.use_model(inspect_folder(target, "demo"), "offline demo model")
            else:

                def build(overwrite: bool) -> None:
                    self.set_status("Building the demo model…", "working")
                    self.track(self.app.engine.build_demo_model(target, overwrite=overwrite))

                write_checked(self, target, DEMO_MODEL, build, self.status_line.failed)
        elif key == FOLDER:
            self.action_folder()
        elif key.startswith("local:"):
            m = self.local[key[6:]]
            if not m.complete and m.repo_id:
                self.start_download(m.repo_id)  # finishes an interrupted download
            elif m.problem:
                self.set_status(f"{m.name}: {m.problem}", "error")
            else:
                self.use_model(m, m.name)
        elif key.startswith("hub:"):
            repo = key[4:]
            have = self._cached(repo)
            if have is not None:
                self.use_model(have, repo)
            else:
                self.start_download(repo)

    def _cached(self, repo_id: str) -> ModelInfo | None:
        """The complete local copy of a hub model, if the cache has one."""
        return next((m for m in self.local.values() if m.repo_id == repo_id and m.complete), None)

    @property
    def status_line(self) -> StatusLine:
        return self.query_one("#status", StatusLine)

    def set_status(self, message: str, kind: str, hint: str = "") -> None:
        self.status_line.show(message, kind, hint)

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        self.query_one(f"#{tab}-table", DataTable).focus()

    def action_search(self) -> None:
        self.query_one(TabbedContent).active = "search-tab"
        self.query_one("#search", Input).focus()

    def action_folder(self) -> None:
        self.action_tab("local")
        box = self.query_one("#folder", Input)
        box.display = True
        box.focus()  # after the tab switch has focused its table

    def action_close_input(self) -> None:
        """Esc leaves the folder or search box for the list it belongs to."""
        folder = self.query_one("#folder", Input)
        if folder.has_focus:
            folder.display = False
            self.query_one("#local-table", DataTable).focus()
        elif self.query_one("#search", Input).has_focus:
            self.query_one("#results-table", DataTable).focus()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        pane = event.pane.id
        table = self.query_one("#results-table" if pane == "search-tab" else f"#{pane}-table", DataTable)
        if table.row_count:
            key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
            self.query_one("#about", Static).update(self._about(key))
        elif pane == "search-tab":
            self.query_one("#about", Static).update(
                "Search the hub (or your mirror) for text-generation models mlx-lm can load."
            )

    @on(Input.Submitted, "#search")
    def search_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        endpoint = resolve_endpoint(self.app.config)[0]
        if text and self.app.session.hub_reachable is False:
            self.set_status(
                f"{endpoint} was unreachable at the environment check.",
                "error",
                "switch the endpoint (e on the Environment screen, then r), or use a local model",
            )
        elif text:
            self.set_status(f"Searching {endpoint} for {text!r}…", "working")
            self.search(text, endpoint)

    @on(Input.Submitted, "#folder")
    def folder_submitted(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            self.set_status("Type the path of a model folder first (Esc: back to the list).", "warning")
            return
        path = Path(event.value.strip()).expanduser().resolve()
        try:
            check_model_folder(path)  # first, and cheap: a typed "/" must not be sized
        except TuneDeckError as exc:
            self._refuse_folder(Status.failed(exc))
            return
        info = inspect_folder(path)
        if not info.supported:
            self._refuse_folder(
                Status(
                    "error",
                    f"mlx-lm cannot load model type {info.model_type!r}",
                    "pick a model of an architecture mlx-lm supports (see the mlx column)",
                    where=str(path),
                )
            )
        else:
            self.use_model(info, path.name)

    def _refuse_folder(self, refusal: Status) -> None:
        """The refusal, then (after its fix) the model that stays chosen."""
        chosen = self.app.session.model_label
        if chosen and refusal.hint:
            refusal = replace(refusal, hint=f"{refusal.hint}\n(still using {chosen})")
        elif chosen:
            refusal = replace(refusal, message=f"{refusal.message} (still using {chosen})")
        self.status_line.status = refusal

    # -- search ------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="search", exit_on_error=False)
    def search(self, text: str, endpoint: str) -> None:
        from core.models.hub import search_models  # network: off the UI thread

        try:
            done = SearchDone(text, search_models(text, endpoint=endpoint), None)
        except TuneDeckError as exc:
            done = SearchDone(text, [], exc)
        except Exception as exc:
            done = SearchDone(text, [], TuneDeckError(f"search failed: {exc}", "try again"))
        if not get_current_worker().is_cancelled:  # a newer search replaced this one
            self.post_message(done)

    def on_search_done(self, message: SearchDone) -> None:
        if message.error:
            self.status_line.failed(message.error)
            return
        table = self.query_one("#results-table", DataTable)
        table.clear()
        self.results = {r.repo_id: r for r in message.results}
        for r in message.results:
            table.add_row(
                short(r.repo_id + (" (gated)" if r.gated else ""), 36),
                f"{r.downloads:,}",
                format_size(r.size_bytes),
                format_params(r.parameters),
                short(r.model_type, 10),
                key=f"hub:{r.repo_id}",
            )
        n = len(message.results)
        self.set_status(
            f"{n} model(s) mlx-lm can load match {message.text!r}."
            + (" Enter downloads the highlighted one." if n else ""),
            "ok" if n else "warning",
        )
        if n:
            table.focus()

    # -- download ----------------------------------------------------------------------
    def start_download(self, repo_id: str) -> None:
        endpoint, _ = resolve_endpoint(self.app.config)
        if self.app.session.hub_reachable is False:
            self.set_status(
                f"{endpoint} was unreachable at the environment check, so {repo_id} cannot be downloaded.",
                "error",
                "use the offline demo, or switch the endpoint (e on the Environment screen, then r)",
            )
            return
        self.download_repo = repo_id
        self.download_job = self.track(self.app.engine.download_model(repo_id, endpoint=endpoint))
        self.query_one("#download", DownloadProgressRow).start()
        self.set_status(f"Downloading {repo_id} from {endpoint}… (x cancels; finished files are kept)", "working")

    def action_cancel_download(self) -> None:
        if self.download_job is None:
            return
        self.download_job.cancel()
        self.set_status(f"Cancelling the download of {self.download_repo}…", "working")

    def _show_progress(self, event: ev.DownloadProgress) -> None:
        # (the job's first Progress line replaced this; the bytes have started now)
        self.set_status(f"Downloading {self.download_repo}… x cancels; finished files are kept.", "working")
        self.download_line = self.query_one("#download", DownloadProgressRow).show(event)

    def _download_over(self) -> None:
        self.download_job = None
        self.query_one("#download", DownloadProgressRow).stop()
        self.scan_local()

    def handle_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.DownloadProgress):
            self._show_progress(event)
        elif isinstance(event, ev.Progress):
            self.set_status(f"{event.message}…", "working")
        elif isinstance(event, ev.JobFinished) and event.name == "demo-model":
            self.use_model(inspect_folder(event.result, "demo"), "offline demo model")
            self.scan_local()
        elif isinstance(event, ev.JobFinished) and event.name == "download":
            repo = self.download_repo
            self._download_over()
            self.use_model(inspect_folder(event.result, "hf-cache", name=repo, repo_id=repo), repo)
        elif isinstance(event, ev.JobCancelled) and event.name == "download":
            self._download_over()
            self.set_status(
                f"Download of {self.download_repo} cancelled. Files fetched so far are kept: "
                "Enter on it again resumes.",
                "idle",
            )
        elif isinstance(event, ev.JobFailed):
            if event.name == "download":
                self._download_over()
            self.status_line.failed(event)

    def use_model(self, info: ModelInfo, label: str) -> None:
        session = self.app.session
        if session.model_path != info.path:
            session.adapter_path = None  # an adapter belongs to its base model
        session.model_path, session.model_label, session.model_info = info.path, label, info
        est = info.estimate(self.memory)
        fit = f"LoRA training needs ~{est.need_gb:.1f} GB here: {est.verdict}.  " if est else ""
        self.set_status(f"Using {label}: {describe(info)}\n{fit}Press n for the dataset.", "ok")
        self.refresh_stepbar()

    def can_leave(self) -> str | None:
        if self.download_job is not None:
            return f"Still downloading {self.download_repo} (x cancels)."
        return None if self.app.session.model_path else "Choose a model first (Enter on a line)."
