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

import time
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Label, ProgressBar, Static

from core.evaluation.judge import EvalSettings, load_results
from core.runtime import app_config
from core.runtime import events as ev
from core.shipping.provenance import adapter_iteration, adapter_run, describe_adapter, same_adapter
from tui.screens.base import StepScreen
from tui.widgets.path_log import PathLog

COLUMNS = ("", "test loss", "ppl", "exact", "valid SQL", "exec", "N")


def fused_dir(adapter: str) -> Path:
    """Where the fused model goes: ``<run>/fused``, else beside the adapter."""
    from core.evaluation.judge import results_dir

    folder = results_dir(adapter)
    adapter_path = Path(adapter)
    return folder / "fused" if folder != adapter_path else adapter_path.with_name(adapter_path.name + "-fused")


def short(path: str | Path) -> str:
    """A path with the home folder as ``~`` (80 columns are few)."""
    text, home = str(path), str(Path.home())
    return "~" + text[len(home) :] if home != "/" and (text == home or text.startswith(home + "/")) else text


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def row_cells(row: dict) -> tuple:
    from core.shipping.provenance import adapter_choice

    task = row.get("task") or {}
    ppl = row["test_ppl"]
    choice = adapter_choice(row["adapter"]) if row.get("adapter") else None
    label = f"{row['label']} ({choice})" if choice else row["label"]  # which adapter it judged
    return (
        label,
        f"{row['test_loss']:.3f}",
        f"{ppl:,.2f}" if ppl < 1e6 else f"{ppl:.2e}",
        _pct(task.get("exact_match")),
        _pct(task.get("valid_sql")),
        _pct(task.get("execution_match")),
        str(task.get("n", "–")),
    )


def verdict(rows: dict) -> Text:
    if "base" not in rows or "tuned" not in rows:
        return Text("")
    b, t = rows["base"], rows["tuned"]
    better = t["test_loss"] < b["test_loss"]
    text = "✓ tuned is better: " if better else "✗ tuning did not help on the test split: "
    text += f"test loss {b['test_loss']:.3f} → {t['test_loss']:.3f}"
    bt, tt = b.get("task"), t.get("task")
    if bt and tt:
        text += f" · exact {_pct(bt['exact_match'])} → {_pct(tt['exact_match'])}"
        if tt["sql_n"]:
            text += f" · valid SQL {_pct(bt['valid_sql'])} → {_pct(tt['valid_sql'])}"
    return Text(text, style="bold green" if better else "bold yellow")


class ResultsScreen(StepScreen):
    STEP = "train"
    AUTO_FOCUS = ""  # e/a/f/l/g/o/x must reach the screen; Tab moves into the N box
    GUIDE = (
        "Judge & ship. e: base vs tuned on the test split; a: judge the best or last adapter. "
        "f: fuse and verify. l: export for LM Studio (o: its folder), g: GGUF. x cancels, Esc back."
    )
    DEFAULT_CSS = """
    ResultsScreen #subject { padding: 0 1; height: auto; max-height: 7; color: $text-muted; }
    ResultsScreen #task-row { height: 1; padding: 0 1; }
    ResultsScreen #task-row Label { padding: 0 1 0 0; }
    ResultsScreen #task-n { width: 8; height: 1; border: none; padding: 0 1; background: $boost; }
    ResultsScreen #task-n:focus { background: $primary 30%; }
    ResultsScreen #table { height: auto; max-height: 4; margin: 0 1; }
    ResultsScreen #verdict { padding: 0 1; height: auto; max-height: 2; }
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
        self.rows: dict[str, dict] = {}
        self.choice = "last"  # which of the run's adapters is judged and fused: last | best

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield Static("", id="subject")
        with Horizontal(id="task-row"):
            yield Label("task score on the first")
            yield Input("20", id="task-n", type="integer")
            yield Label("test examples (0 = loss only, blank = all)")
        yield DataTable(id="table", show_cursor=False, zebra_stripes=True)
        yield Static("", id="verdict")
        yield ProgressBar(id="judge-progress", total=1, show_eta=False)  # idle: empty, not pulsing
        # min_width: RichLog renders at least 78 columns and crops the rest,
        # which at 80x24 (padding + scrollbar) cut paths off mid-word.
        yield PathLog(id="judge-log", max_lines=300, wrap=True, markup=False, min_width=20)
        yield from self.compose_bottom()

    def on_mount(self) -> None:
        table = self.query_one("#table", DataTable)
        table.add_columns(*COLUMNS)
        self.refresh_subject()
        if not self.show_saved(announce=True):
            self.log_line("Press e to compare the base and tuned models on the test split.")

    # -- what is judged and shipped -----------------------------------------
    def run_dir(self) -> Path | None:
        session = self.app.session
        if session.run_dir:
            return Path(session.run_dir)
        return adapter_run(session.adapter_path) if session.adapter_path else None

    def adapter_for(self, choice: str) -> str | None:
        """The run's last adapter (the session's) or its best/ one."""
        from core.training.run_folders import BEST

        if choice == "last":
            return self.app.session.adapter_path
        run = self.run_dir()
        return str(run / BEST) if run is not None else None

    def adapter(self) -> str | None:
        return self.adapter_for(self.choice)

    def lmstudio_target(self) -> Path | None:
        from core.shipping.lmstudio import lmstudio_target

        source = self.fused()
        if source is None:
            return None
        try:
            return lmstudio_target(source, self.app.session.lmstudio_root)
        except Exception:  # a name that cannot be a folder: the export job explains it
            return None

    def freshness(self):
        from core.shipping.provenance import check_fused

        out = self.fused()
        return check_fused(out) if out is not None and out.is_dir() else None

    def _adapter_line(self) -> str:
        adapter = self.adapter()
        if not adapter:
            return "adapter none yet (train on step 4)"
        it = adapter_iteration(adapter)
        run = adapter_run(adapter)
        where = f"run {run.name} · adapter {self.choice}" if run is not None else f"adapter {short(adapter)}"
        line = where + (f" (iteration {it})" if it else "")
        other = "best" if self.choice == "last" else "last"
        other_path = self.adapter_for(other)
        if other_path and (Path(other_path) / "adapters.safetensors").is_file():
            line += f" · a: {other}"
        return line

    def _fused_line(self) -> Text:
        out = self.fused()
        if out is None:
            return Text("fused: nothing to fuse yet")
        if not out.exists():
            return Text(f"fused: not yet (f fuses the {self.choice} adapter into {short(out)})")
        fresh = self.freshness()
        if fresh is None:
            return Text(f"fused: {short(out)} is not a TuneDeck fused model (f will not replace it)", style="yellow")
        if fresh.stale:
            its = (fresh.fused_iteration, fresh.now_iteration)
            why = (
                f"fused at iteration {its[0]}, adapter now at {its[1]}"
                if all(its) and its[0] != its[1]
                else fresh.reason
            )
            return Text(f"fused: OUT OF DATE, {why} · f fuses again", style="bold yellow")
        if fresh.state == "unknown":
            return Text(f"fused: {fresh.reason}", style="yellow")
        at = f", iteration {fresh.fused_iteration}" if fresh.fused_iteration else ""
        origin = f"{fresh.choice} adapter{at}" if fresh.choice else fresh.source()
        text = Text(f"fused: up to date ({origin})", style="green")
        if fresh.choice and fresh.choice != self.choice:
            text.append(f" · f fuses the {self.choice} one instead")
        return text

    def _lmstudio_line(self) -> str:
        from core.shipping.lmstudio import lmstudio_root

        target = self.lmstudio_target()
        root = lmstudio_root(self.app.session.lmstudio_root)
        where = short(target) if target is not None else short(root)
        missing = "" if root.is_dir() else " (made on export)"
        return f"LM Studio: {where}{missing} · o: folder"

    def refresh_subject(self) -> None:
        session = self.app.session
        model = Path(session.model_path).name if session.model_path else "none (choose one on step 2)"
        text = Text(
            f"model {model} · data {short(session.data_dir) if session.data_dir else 'none'}\n{self._adapter_line()}\n"
        )
        text.append_text(self._fused_line())
        text.append(f"\n{self._lmstudio_line()}")
        self.query_one("#subject", Static).update(text)

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
        self.rows = {r["label"]: r for r in rows}
        table = self.query_one("#table", DataTable)
        table.clear()
        for label in ("base", "tuned"):
            if label in self.rows:
                table.add_row(*row_cells(self.rows[label]), key=label)
        self.query_one("#verdict", Static).update(verdict(self.rows))

    def show_saved_rows(self, job_name: str) -> None:
        """After an evaluation that did not finish, show the last saved one
        again (eval.json is only replaced by a complete evaluation)."""
        if job_name == "evaluate":
            self.show_saved()
        else:
            self.query_one("#verdict", Static).update(verdict(self.rows))

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

    def fused(self) -> Path | None:
        adapter = self.app.session.adapter_path
        return fused_dir(adapter) if adapter else None

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
        raw = self.query_one("#task-n", Input).value.strip()
        try:
            n = None if raw.lower() in ("", "all") else int(raw)
        except ValueError:
            n = -1
        if n is not None and n < 0:
            self.notify(
                f"Task score: {raw!r} is not a count. Type a whole number of examples "
                "(0 = loss only), or leave the box blank for all.",
                severity="error",
            )
            return
        adapter = self.adapter()
        if adapter and not (Path(adapter) / "adapters.safetensors").is_file():
            self.notify(f"No {self.choice} adapter in this run yet; a switches back.", severity="warning")
            return
        settings = EvalSettings(model=session.model_path, data=session.data_dir, adapter=adapter, task_examples=n)
        self.show_rows([])
        scope = "all" if n is None else n
        tuned = f"base and tuned ({self.choice} adapter {describe_adapter(adapter)})" if adapter else ""
        self.start(
            self.app.engine.evaluate(settings),
            f"evaluating {tuned or 'the base model'} (task score on {scope} examples)",
        )

    def action_toggle_adapter(self) -> None:
        if self.busy():
            return
        other = "best" if self.choice == "last" else "last"
        path = self.adapter_for(other)
        if not path or not (Path(path) / "adapters.safetensors").is_file():
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
        import os

        from core.shipping.lmstudio import lmstudio_root
        from tui.screens.results_dialogs import LMStudioFolderDialog

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
        fresh = self.freshness()
        if fresh is None:  # not TuneDeck's: never replaced from here
            self.log_line(f"{out} exists and is not a TuneDeck fused model: move it away to fuse here")
            return
        same = fresh.adapter is not None and fresh.adapter.resolve() == Path(adapter).resolve()
        if fresh.state == "fresh" and same:
            self.log_line(f"already fused and up to date ({fresh.reason}); l/g export it")
            return
        from tui.screens.results_dialogs import ConfirmDialog

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
        self.start(
            self.app.engine.fuse(session.model_path, adapter, str(out), data=session.data_dir, overwrite=overwrite),
            f"{'fusing again' if overwrite else 'fusing'} the {self.choice} adapter into {out}",
        )

    def _export_source(self) -> Path | None:
        out = self.fused()
        if out is None or not out.is_dir():
            self.notify("Fuse first (press f): exports take the fused model.", severity="warning")
            return None
        fresh = self.freshness()
        if fresh is not None and fresh.stale:  # never ship a stale model silently
            self.log_line(
                f"not exported: the fused model is out of date ({fresh.reason}). Press f to fuse again, then export."
            )
            return None
        if fresh is not None and fresh.state == "unknown":
            self.log_line(f"note: {fresh.reason}")
        return out

    def action_export_lmstudio(self) -> None:
        from core.shipping.lmstudio import default_name

        if self.busy() or (source := self._export_source()) is None:
            return
        name = default_name(source)
        root = self.app.session.lmstudio_root
        self.start(
            self.app.engine.export_lmstudio(str(source), root=root, name=name),
            f"exporting {name} for LM Studio to {self.lmstudio_target() or '?'}",
        )

    def action_export_gguf(self) -> None:
        from core.shipping.gguf import converter_steps, lmstudio_gguf_path, unsupported
        from core.shipping.lmstudio import default_name
        from tui.screens.gguf_dialog import GGUFDialog

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
            self.query_one("#verdict", Static).update(Text(status + "…", style="dim"))
        elif isinstance(event, ev.EvalResult):
            self.rows[event.label] = {k: v for k, v in event.__dict__.items() if k != "job_id"}
            self.show_rows(list(self.rows.values()))
        elif isinstance(event, ev.FuseVerified):
            if event.match:
                self.log_line(f"verify {event.index + 1}: fused = adapter-on-base ✓")
            else:
                self.log_line(f"verify {event.index + 1}: DIFFERS — adapter {event.expected!r}, fused {event.got!r}")
        elif isinstance(event, ev.JobFinished):
            bar.update(total=1, progress=1)
            self.query_one("#verdict", Static).update(verdict(self.rows))
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
            self.show_rows(result["rows"])
            if result.get("saved_to"):
                self.log_line(f"saved {result['saved_to']}")
        elif name == "fuse":
            self.log_line(f"fused model in {result['out']}")
            if result["note"]:
                self.log_line(f"note: {result['note']}")
            if result["all_match"]:
                self.log_line(f"verified: all {len(result['checks'])} answers match. l/g to export.")
            elif result["verified"]:
                self.log_line("warning: some fused answers differ from the adapter-on-base ones (above)")
        elif name == "export" and "checks" in result:  # a GGUF file: what was checked
            from core.shipping.gguf import summary_lines

            for line in summary_lines(result):
                self.log_line(line)
        elif name == "export":
            self.log_line(f"exported to {result['path']}")
