"""Judge & ship: base vs tuned side by side, then fuse, verify and export.

Pushed from the training screen (key j). Every action is an engine job
(evaluate, fuse, export) tracked like the other screens' jobs; x cancels the
running one. Results saved by an earlier evaluation (eval.json beside the
adapter) are shown on arrival.

The subject lines say what is judged and shipped: the adapter (a switches
between the run's last and best), whether ``<run>/fused`` still matches its
adapter (``core.shipping.provenance``; after a resume it does not, and f offers to
fuse again, replacing only that folder after a y), and where l will write
in LM Studio's folder (o chooses it, remembered in the settings).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import ProgressBar

from core.evaluation.judge import EvalSettings, load_results, row_record
from core.runtime import app_config
from core.runtime import events as ev
from core.shipping.gguf import GgufResult, converter_steps, lmstudio_gguf_path, summary_lines, unsupported
from core.shipping.lmstudio import default_name, lmstudio_root
from core.shipping.provenance import adapter_iteration, describe_adapter, same_adapter
from tui.screens.base import StepScreen
from tui.screens.gguf_dialog import GGUFDialog
from tui.screens.memory_ask import ask_before_loading
from tui.screens.results_dialogs import ConfirmDialog, LMStudioFolderDialog
from tui.widgets.judge.artefacts import Artefacts, ArtefactsPanel, fused_dir, other_choice, short
from tui.widgets.judge.table import JudgeTable
from tui.widgets.judge.task_count import TaskCount
from tui.widgets.path_log import PathLog

__all__ = ["ResultsScreen", "fused_dir"]


class ResultsScreen(StepScreen):
    STEP = "train"
    AUTO_FOCUS = ""  # e/a/f/l/g/o/x must reach the screen; Tab moves into the N box
    GUIDE = (
        "Judge & ship. e: base vs tuned on the test split; a: judge the best or last adapter. "
        "f: fuse and verify. l: export for LM Studio (o: its folder), g: GGUF. x cancels, Esc back."
    )
    DEFAULT_CSS = """
    ResultsScreen #judge-progress { padding: 0 1; height: 1; }
    ResultsScreen #judge-progress Bar { width: 1fr; }
    ResultsScreen #judge-log { height: 1fr; min-height: 3; padding: 0 1; background: $surface;
                               scrollbar-gutter: stable; }
    """
    BINDINGS = [
        Binding("e", "evaluate", "Evaluate", id="judge-evaluate"),
        # a and x share the footer's room: a while idle, x while a job runs.
        Binding("a", "toggle_adapter", "Adapter", id="judge-adapter"),
        Binding("f", "fuse", "Fuse", id="ship-fuse"),
        Binding("l", "export_lmstudio", "LM Studio", id="ship-lmstudio"),
        Binding("g", "export_gguf", "GGUF", id="ship-gguf"),
        Binding("o", "choose_lmstudio_root", "LM folder", id="ship-lmstudio-root", show=False),
        Binding("x", "cancel_job", "Cancel", id="judge-cancel"),
        Binding("escape", "close", "Back", id="judge-back"),
        # Hides the step screens' "n Next" (no next step from here: Esc goes back),
        # which would also push the footer past 80 columns.
        Binding("n", "next_step", "Next", id="next-step", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.job = None
        self.choice = "last"  # which of the run's adapters is judged and fused: last | best

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield ArtefactsPanel("", id="subject")
        yield TaskCount(id="task-row")
        yield JudgeTable(id="judge-table")
        yield ProgressBar(id="judge-progress", total=1, show_eta=False)  # idle: empty, not pulsing
        # min_width: RichLog renders at least 78 columns and crops the rest,
        # which at 80x24 (padding + scrollbar) cut paths off mid-word.
        yield PathLog(id="judge-log", max_lines=300, wrap=True, markup=False, min_width=20)
        yield from self.compose_bottom()

    def on_mount(self) -> None:
        self.refresh_subject()
        if not self.show_saved(announce=True):
            self.log_line("Press e to compare the base and tuned models on the test split.")

    # -- what is judged and shipped -----------------------------------------
    @property
    def artefacts(self) -> Artefacts:
        return Artefacts(self.app.session, self.choice)

    @property
    def table(self) -> JudgeTable:
        return self.query_one(JudgeTable)

    @property
    def rows(self) -> dict[str, dict]:
        return self.table.rows

    def adapter(self) -> str | None:
        return self.artefacts.adapter()

    def fused(self) -> Path | None:
        return self.artefacts.fused()

    def refresh_subject(self) -> None:
        self.query_one(ArtefactsPanel).show(self.artefacts)

    def show_saved(self, announce: bool = False) -> bool:
        """Show the saved evaluation of the chosen adapter (if any), saying
        when the adapter has changed since it was judged."""
        adapter = self.adapter()
        saved = load_results(adapter)
        if not saved or saved.get("model") != self.app.session.model_path:
            self.show_rows([])
            return False
        self.show_rows(saved["rows"])
        if announce:
            record = saved.get("adapter_record")
            it = saved.get("adapter_iteration")
            of = f" of the {self.choice} adapter" + (f" at iteration {it}" if it else "")
            changed = ""
            if isinstance(record, dict) and not same_adapter(record, adapter):
                now = adapter_iteration(adapter)
                changed = f"; the adapter has changed since{f' (now at iteration {now})' if now else ''}"
            self.log_line(
                f"last evaluation{of} ({saved.get('created', '?')}, N={saved.get('task_examples')})"
                f"{changed}; e runs it again"
            )
        return True

    def check_action(self, action: str, parameters) -> bool | None:
        # x only while a job runs, a only while none does: one footer slot at 80 columns.
        running = self.job is not None and not self.job.done
        if action == "cancel_job":
            return running
        if action == "toggle_adapter":
            return not running
        return super().check_action(action, parameters)

    # -- helpers ------------------------------------------------------------
    def log_line(self, text: str) -> None:
        self.query_one("#judge-log", PathLog).write_line(f"{time.strftime('%H:%M:%S')} {text}")

    def show_rows(self, rows: list[dict]) -> None:
        self.table.show_rows(rows)

    def show_saved_rows(self, job_name: str) -> None:
        """After an evaluation that did not finish, show the last saved one
        again (eval.json is only replaced by a complete evaluation)."""
        if job_name == "evaluate":
            self.show_saved()
        else:
            self.table.show_verdict()

    def busy(self) -> bool:
        if self.job is not None and not self.job.done:
            self.notify(f"{self.job.name} is running; x cancels it.", severity="warning")
            return True
        return False

    def start(self, job, what: str) -> None:
        self.job = self.track(job)
        self.query_one("#judge-progress", ProgressBar).update(total=None, progress=0)
        self.log_line(what)
        self.set_focus(None)
        self.refresh_bindings()

    # -- actions ------------------------------------------------------------
    def action_close(self) -> None:
        if self.busy():
            return
        self.app.pop_screen()

    def action_cancel_job(self) -> None:
        if self.job is not None and not self.job.done:
            self.job.cancel()
            self.log_line(f"cancelling {self.job.name}…")

    def action_evaluate(self) -> None:
        session = self.app.session
        if self.busy():
            return
        if not session.model_path or not session.data_dir:
            self.notify("Choose a model (step 2) and a dataset (step 3) first.", severity="warning")
            return
        try:
            n = self.query_one(TaskCount).count()
        except ValueError as exc:
            self.notify(str(exc), severity="error")
            return
        adapter = self.adapter()
        if adapter and not self.artefacts.has_adapter(self.choice):
            self.notify(f"No {self.choice} adapter in this run yet; a switches back.", severity="warning")
            return
        settings = EvalSettings(model=session.model_path, data=session.data_dir, adapter=adapter, task_examples=n)
        scope = "all" if n is None else n
        tuned = f"base and tuned ({self.choice} adapter {describe_adapter(adapter)})" if adapter else ""

        def go() -> None:
            self.show_rows([])
            self.start(
                self.app.engine.evaluate(settings),
                f"evaluating {tuned or 'the base model'} (task score on {scope} examples)",
            )

        what = f"{Path(session.model_path).name} for an evaluation" + (" (base, then tuned)" if adapter else "")
        ask_before_loading(self, what, go, no=lambda: self.log_line("not evaluated: a run is training"))

    def action_toggle_adapter(self) -> None:
        if self.busy():
            return
        other = other_choice(self.choice)
        if not self.artefacts.has_adapter(other):
            self.notify(
                "This run has no best/ adapter: it is saved when a validation loss improves "
                "(set steps per eval below the iterations on the Train screen).",
                severity="warning",
            )
            return
        self.choice = other
        self.refresh_subject()
        if not self.show_saved(announce=True):
            self.log_line(f"judging the {other} adapter: e evaluates it, f fuses it")

    def action_choose_lmstudio_root(self) -> None:
        if self.busy():
            return
        env = os.environ.get("LMSTUDIO_MODELS_DIR")
        note = (
            f"LMSTUDIO_MODELS_DIR is set ({env}): it wins over this setting when TuneDeck starts."
            if env
            else "Saved in TuneDeck's settings for next time."
        )
        self.app.push_screen(
            LMStudioFolderDialog(lmstudio_root(self.app.session.lmstudio_root), note), self._lmstudio_root_chosen
        )

    def _lmstudio_root_chosen(self, root: Path | None) -> None:
        if root is None:
            return
        self.app.session.lmstudio_root = str(root)
        self.app.config = app_config.update(lmstudio_models_dir=str(root))
        self.refresh_subject()
        self.log_line(f"LM Studio folder: {root} (saved in the settings)")

    def action_fuse(self) -> None:
        session = self.app.session
        if self.busy():
            return
        adapter = self.adapter()
        if not adapter or not session.model_path:
            self.notify("Train an adapter first (step 4).", severity="warning")
            return
        out = self.fused()
        if not out.exists():
            self._start_fuse(adapter, out, overwrite=False)
            return
        fresh = self.artefacts.freshness()
        if fresh is None:  # not TuneDeck's: never replaced from here
            self.log_line(f"{out} exists and is not a TuneDeck fused model: move it away to fuse here")
            return
        same = fresh.adapter is not None and fresh.adapter.resolve() == Path(adapter).resolve()
        if fresh.state == "fresh" and same:
            self.log_line(f"already fused and up to date ({fresh.reason}); l/g export it")
            return
        if fresh.state == "fresh":
            why = f"not the chosen adapter: fused from the {fresh.source()}"
        else:
            why = f"{'out of date' if fresh.stale else 'unchecked'}: {fresh.reason}"
        it = adapter_iteration(adapter)
        new = f"the {self.choice} adapter {describe_adapter(adapter)}" + (f" (iteration {it})" if it else "")

        def answered(yes: bool) -> None:
            if yes:
                self._start_fuse(adapter, out, overwrite=True)
            else:
                self.log_line("kept the fused model as it is")

        self.app.push_screen(
            ConfirmDialog(
                "Fuse again?",
                f"{short(out)} is {why}.\n\nReplace it (TuneDeck's own fused model; nothing "
                f"else is touched) with a new fuse of {new}?",
            ),
            answered,
        )

    def _start_fuse(self, adapter: str, out: Path, overwrite: bool) -> None:
        session = self.app.session

        def go() -> None:
            self.start(
                self.app.engine.fuse(session.model_path, adapter, str(out), data=session.data_dir, overwrite=overwrite),
                f"{'fusing again' if overwrite else 'fusing'} the {self.choice} adapter into {out}",
            )

        what = f"{Path(session.model_path).name} to fuse the {self.choice} adapter into it"
        ask_before_loading(self, what, go, no=lambda: self.log_line("not fused: a run is training"))

    def _export_source(self) -> Path | None:
        out = self.fused()
        if out is None or not out.is_dir():
            self.notify("Fuse first (press f): exports take the fused model.", severity="warning")
            return None
        fresh = self.artefacts.freshness()
        if fresh is not None and fresh.stale:  # never ship a stale model silently
            self.log_line(
                f"not exported: the fused model is out of date ({fresh.reason}). Press f to fuse again, then export."
            )
            return None
        if fresh is not None and fresh.state == "unknown":
            self.log_line(f"note: {fresh.reason}")
        return out

    def action_export_lmstudio(self) -> None:
        if self.busy() or (source := self._export_source()) is None:
            return
        name = default_name(source)
        root = self.app.session.lmstudio_root
        self.start(
            self.app.engine.export_lmstudio(str(source), root=root, name=name),
            f"exporting {name} for LM Studio to {self.artefacts.lmstudio_target() or '?'}",
        )

    def action_export_gguf(self) -> None:
        if self.busy() or (source := self._export_source()) is None:
            return
        name = default_name(source)
        reason = unsupported(source)
        if reason:  # an architecture TuneDeck does not write: explain, give llama.cpp's route
            self.log_line(f"GGUF: {reason}. Convert the fused folder with llama.cpp instead:")
            for step in converter_steps(source, source.parent / f"{name}.gguf"):
                self.query_one("#judge-log", PathLog).write_line(f"  {step}")
            return

        def write(request) -> None:
            if request is not None:
                self.start(
                    self.app.engine.export_gguf(str(source), request.path, request.gguf_type, request.replace),
                    f"writing {request.gguf_type} GGUF to {request.path}",
                )

        lms = lmstudio_gguf_path(name, "f16", root=self.app.session.lmstudio_root).parent
        self.app.push_screen(GGUFDialog(name, source.parent, lms), write)

    # -- events -------------------------------------------------------------
    def handle_event(self, event: ev.Event) -> None:
        bar = self.query_one("#judge-progress", ProgressBar)
        if isinstance(event, ev.Progress):
            bar.update(total=event.total, progress=event.done or 0)
            status = f"{event.message}" + (f" {int(event.done)}/{int(event.total)}" if event.total else "")
            self.table.show_status(status)
        elif isinstance(event, ev.EvalResult):
            self.table.add_row(row_record(event))
        elif isinstance(event, ev.FuseVerified):
            if event.match:
                self.log_line(f"verify {event.index + 1}: fused = adapter-on-base ✓")
            else:
                self.log_line(f"verify {event.index + 1}: DIFFERS — adapter {event.expected!r}, fused {event.got!r}")
        elif isinstance(event, ev.JobFinished):
            bar.update(total=1, progress=1)
            self.table.show_verdict()
            self.finished(event.name, event.result)
        elif isinstance(event, ev.JobCancelled):
            self.show_saved_rows(event.name)
            self.log_line(f"{event.name} cancelled; nothing half-written was kept")
        elif isinstance(event, ev.JobFailed):
            self.show_saved_rows(event.name)
            self.log_line(f"{event.name} failed: {event.located}")
            if event.hint:
                self.log_line(f"fix: {event.hint}")
        if isinstance(event, (ev.JobCancelled, ev.JobFailed)):
            bar.update(total=1, progress=0)  # idle again: empty, not part-full from the stopped job
        if isinstance(event, ev.TERMINAL):  # the fused line and the footer follow the job
            self.refresh_subject()
            self.refresh_bindings()

    def finished(self, name: str, result) -> None:
        if name == "evaluate":
            self.show_rows([row_record(r) for r in result.rows])
            if result.saved_to:
                self.log_line(f"saved {result.saved_to}")
        elif name == "fuse":
            self.log_line(f"fused model in {result.out}")
            if result.note:
                self.log_line(f"note: {result.note}")
            if result.all_match:
                self.log_line(f"verified: all {len(result.checks)} answers match. l/g to export.")
            elif result.verified:
                self.log_line("warning: some fused answers differ from the adapter-on-base ones (above)")
        elif name == "export" and isinstance(result, GgufResult):  # a GGUF file: what was checked
            for line in summary_lines(result):
                self.log_line(line)
        elif name == "export":
            self.log_line(f"exported to {result.path}")
