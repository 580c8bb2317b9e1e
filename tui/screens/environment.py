"""Step 1: what will and won't work on this machine, and why."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Input, Static
from textual.worker import get_current_worker

from core.models.hub import KNOWN_ENDPOINTS, resolve_endpoint, save_endpoint
from core.runtime import app_config
from core.runtime.doctor import Check, ready, run_checks
from core.runtime.errors import TuneDeckError
from tui.screens.base import StepScreen
from tui.widgets.status_line import MARKS, STYLES, Status, StatusLine, render_status

KIND = {"pass": "ok", "warn": "warning", "fail": "error"}  # a check's mark is its status kind's


class ChecksReady(Message):
    def __init__(self, checks, model_path: str | None) -> None:
        super().__init__()
        self.checks, self.model_path = checks, model_path


def verdict(checks: list[Check]) -> Status:
    """Ready (ok), ready with warnings (warning), or what stops training and
    the first fix (error); every row's fix shows when it is selected."""
    warns = [c for c in checks if c.status == "warn"]
    fails = [c for c in checks if c.status == "fail"]
    if not fails and not warns:
        return Status("ok", "Ready to train.  Press n to pick a model.")
    if not fails:
        return Status(
            "warning", f"Ready to train ({len(warns)} warning(s): select a row for the fix).  Press n to pick a model."
        )
    first, more = fails[0], len(fails) - 1
    hint = fix_of(first) or f"select the {first.name} row for what to do"
    if more:
        hint = f"{first.name}: {hint} ({more} more: select each ✗ row for its fix)"
    return Status("error", f"{len(fails)} problem(s) stop training: {', '.join(c.name for c in fails)}.", hint)


def fix_of(check: Check) -> str:
    # core's fix names no interface; here the endpoint is switched with e.
    return check.fix + (" (e switches it here)" if check.fix and check.id == "hub" else "")


class EnvironmentScreen(StepScreen):
    STEP = "env"
    NEXT = "model"
    GUIDE = (
        "Welcome to TuneDeck: pick a model, build a dataset, fine-tune it with LoRA and chat "
        "with the result. First, a check of this machine. Press n for the next step."
    )
    BINDINGS = [
        Binding("r", "recheck", "Re-check", id="recheck"),
        Binding("e", "edit_endpoint", "Endpoint", id="edit-endpoint"),
        Binding("escape", "close_endpoint", "Close", id="close-endpoint", show=False),
    ]
    DEFAULT_CSS = """
    EnvironmentScreen Input#endpoint { margin: 0 1; }
    """

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield DataTable(id="checks", cursor_type="row", zebra_stripes=True)
        yield Static("", id="fix", classes="detail")
        yield Input(placeholder="hub endpoint, e.g. https://hf-mirror.com (empty: default); Enter saves", id="endpoint")
        yield StatusLine(Status("working", "checking…"), id="verdict", classes="status")
        yield from self.compose_bottom()

    def on_mount(self) -> None:
        self.query_one("#endpoint", Input).display = False
        self._checked_model: str | None = None
        self._select_after_check: str | None = None  # a check id to highlight once re-checked
        self._device: Check | None = None  # the MLX device never changes: asked once
        table = self.query_one(DataTable)
        table.add_columns(" ", "Check", "Result")
        self.action_recheck()

    def on_screen_resume(self) -> None:
        # Memory and disk verdicts depend on the chosen model: re-check when it changed.
        if getattr(self, "checks", None) is not None and self.app.session.model_path != self._checked_model:
            self.action_recheck()

    def action_recheck(self) -> None:
        self.query_one("#verdict", StatusLine).show("checking…", "working")
        self.run_checks(self.app.session.model_path)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def run_checks(self, model_path: str | None) -> None:
        try:
            if self._device is None:  # MLX is only touched on its own thread (core/runtime/worker.py)
                self._device = self.app.engine.check_device().result(timeout=60)
            checks = run_checks(model_path=model_path, device=self._device)
        except Exception as exc:
            checks = [
                Check(
                    "doctor",
                    "Environment check",
                    "warn",
                    f"the check itself failed: {exc}",
                    "run `tunedeck doctor` in a shell to see more",
                )
            ]
        # exclusive=True cancels an older check but cannot stop its thread: a
        # superseded one (e.g. still timing out on the old endpoint) must not post.
        if not get_current_worker().is_cancelled:
            self.post_message(ChecksReady(checks, model_path))

    def on_checks_ready(self, message: ChecksReady) -> None:
        self.checks = message.checks
        self._checked_model = message.model_path
        self.app.session.hub_reachable = any(c.id == "hub" and c.status == "pass" for c in self.checks)
        table = self.query_one(DataTable)
        table.clear()
        for check in self.checks:
            kind = KIND[check.status]
            mark = Text(MARKS.get(kind, "").strip(), style=STYLES.get(kind, ""))
            table.add_row(mark, check.name, check.detail, key=check.id)
        self.query_one("#verdict", StatusLine).status = verdict(self.checks)
        row = next((i for i, c in enumerate(self.checks) if c.id == self._select_after_check), 0)
        self._select_after_check = None
        table.move_cursor(row=row)
        self._show_fix(row)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_fix(event.cursor_row)

    def _show_fix(self, row: int) -> None:
        checks = getattr(self, "checks", [])
        if 0 <= row < len(checks):
            check = checks[row]
            text = f"{check.name}: {check.detail}"
            if check.fix:
                text += f"\nfix: {fix_of(check)}"
            self.query_one("#fix", Static).update(text)

    # -- switching the Hugging Face endpoint -----------------------------------------
    def action_edit_endpoint(self) -> None:
        box = self.query_one("#endpoint", Input)
        current, source = resolve_endpoint(self.app.config)
        box.value = current
        box.display = True
        # At once, not after a refresh as focus() does: keys typed in one burst
        # with the e (a paste, a slow SSH link) belong to the box, not the screen.
        self.set_focus(box)
        others = ", ".join(e for e in KNOWN_ENDPOINTS if e != current)
        self.query_one("#fix", Static).update(
            f"Hugging Face endpoint now: {current} ({source}). Type another (e.g. {others}), "
            "Enter saves it in the app settings; Esc closes."
        )

    def action_close_endpoint(self) -> None:
        box = self.query_one("#endpoint", Input)
        if box.display:
            box.display = False
            table = self.query_one(DataTable)
            table.focus()
            self._show_fix(table.cursor_row)  # the endpoint's prompt (or its error) goes with the box

    @on(Input.Submitted, "#endpoint")
    def endpoint_submitted(self, event: Input.Submitted) -> None:
        try:
            url = save_endpoint(event.value)
        except TuneDeckError as exc:
            self.query_one("#fix", Static).update(render_status(Status.failed(exc)))
            return
        self.app.config = app_config.load()
        self.action_close_endpoint()
        # The hub row, re-checked, is the confirmation: it names the endpoint and says if it answers.
        self._select_after_check = "hub"
        self.action_recheck()
        self.query_one("#fix", Static).update(f"Saved {url} in the app settings; checking it…")

    def can_leave(self) -> str | None:
        checks = getattr(self, "checks", None)
        if checks is None:
            return "Still checking this machine…"
        if not ready(checks):
            return "Fix the failed checks first (select a row to see how)."
        return None
