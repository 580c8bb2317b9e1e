"""Judge & ship: base vs tuned side by side, then fuse, verify and export.

Pushed from the training screen (key j). Every action is an engine job
(evaluate, fuse, export) tracked like the other screens' jobs; x cancels the
running one. Results saved by an earlier evaluation (eval.json beside the
adapter) are shown on arrival.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Label, ProgressBar, RichLog, Static

from core import events as ev
from core.judge import EvalSettings, load_results
from tui.screens.base import StepScreen

COLUMNS = ("", "test loss", "ppl", "exact", "valid SQL", "exec", "N")


def fused_dir(adapter: str) -> Path:
    """Where the fused model goes: ``<run>/fused``, else beside the adapter."""
    from core.judge import results_dir

    folder = results_dir(adapter)
    adapter_path = Path(adapter)
    return folder / "fused" if folder != adapter_path else adapter_path.with_name(adapter_path.name + "-fused")


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def row_cells(row: dict) -> tuple:
    task = row.get("task") or {}
    ppl = row["test_ppl"]
    return (row["label"], f"{row['test_loss']:.3f}", f"{ppl:,.2f}" if ppl < 1e6 else f"{ppl:.2e}",
            _pct(task.get("exact_match")), _pct(task.get("valid_sql")),
            _pct(task.get("execution_match")), str(task.get("n", "–")))


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
    AUTO_FOCUS = ""  # e/f/l/g/x must reach the screen; Tab moves into the N box
    GUIDE = ("Judge & ship. e: test loss, perplexity and task score, base vs tuned. f: fuse the "
             "adapter and verify. l: export for LM Studio, g: GGUF. x cancels, Esc goes back.")
    DEFAULT_CSS = """
    ResultsScreen #subject { padding: 0 1; height: 2; color: $text-muted; }
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
        Binding("f", "fuse", "Fuse", id="ship-fuse"),
        Binding("l", "export_lmstudio", "LM Studio", id="ship-lmstudio"),
        Binding("g", "export_gguf", "GGUF", id="ship-gguf"),
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
        yield RichLog(id="judge-log", max_lines=300, wrap=True, markup=False, min_width=20)
        yield from self.compose_bottom()

    def on_mount(self) -> None:
        table = self.query_one("#table", DataTable)
        table.add_columns(*COLUMNS)
        session = self.app.session
        model = Path(session.model_path).name if session.model_path else "none (choose one on step 2)"
        adapter = session.adapter_path or "none yet (train on step 4)"
        self.query_one("#subject", Static).update(f"model {model} · data {session.data_dir or 'none'}\n"
                                                  f"adapter {adapter}")
        saved = load_results(session.adapter_path)
        if saved and saved.get("model") == session.model_path:
            self.show_rows(saved["rows"])
            self.log_line(f"last evaluation ({saved.get('created', '?')}, N={saved.get('task_examples')}); "
                          "e runs it again")
        else:
            self.log_line("Press e to compare the base and tuned models on the test split.")

    # -- helpers ------------------------------------------------------------
    def log_line(self, text: str) -> None:
        self.query_one("#judge-log", RichLog).write(f"{time.strftime('%H:%M:%S')} {text}")

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
            saved = load_results(self.app.session.adapter_path)
            self.show_rows(saved["rows"] if saved and saved.get("model") == self.app.session.model_path else [])
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
            self.notify(f"Task score: {raw!r} is not a count. Type a whole number of examples "
                        "(0 = loss only), or leave the box blank for all.", severity="error")
            return
        settings = EvalSettings(model=session.model_path, data=session.data_dir,
                                adapter=session.adapter_path, task_examples=n)
        self.show_rows([])
        scope = "all" if n is None else n
        self.start(self.app.engine.evaluate(settings),
                   f"evaluating {'base and tuned' if session.adapter_path else 'the base model'} "
                   f"(task score on {scope} examples)")

    def action_fuse(self) -> None:
        session = self.app.session
        if self.busy():
            return
        if not session.adapter_path or not session.model_path:
            self.notify("Train an adapter first (step 4).", severity="warning")
            return
        out = self.fused()
        if out.exists():
            self.log_line(f"already fused: {out} (delete it to fuse again); l/g export it")
            return
        self.start(self.app.engine.fuse(session.model_path, session.adapter_path, str(out),
                                        data=session.data_dir),
                   f"fusing into {out}")

    def _export_source(self) -> Path | None:
        out = self.fused()
        if out is None or not out.is_dir():
            self.notify("Fuse first (press f): exports take the fused model.", severity="warning")
            return None
        return out

    def action_export_lmstudio(self) -> None:
        from core.export import default_name

        if self.busy() or (source := self._export_source()) is None:
            return
        name = default_name(source)
        self.start(self.app.engine.export_lmstudio(str(source), name=name),
                   f"exporting {name} for LM Studio")

    def action_export_gguf(self) -> None:
        from core.export import default_name, gguf_alternative_steps, gguf_unsupported

        if self.busy() or (source := self._export_source()) is None:
            return
        out = source.parent / f"{default_name(source)}.gguf"
        unsupported = gguf_unsupported(source)
        if unsupported:  # the expected answer for Qwen2, not a failure: explain in the log
            self.log_line(f"GGUF: {unsupported}. Convert the fused folder with llama.cpp instead:")
            for step in gguf_alternative_steps(source, out):
                self.query_one("#judge-log", RichLog).write(f"  {step}")
            return
        self.start(self.app.engine.export_gguf(str(source), str(out)), f"writing GGUF to {out}")

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
                self.log_line(f"verify {event.index + 1}: DIFFERS — adapter {event.expected!r}, "
                              f"fused {event.got!r}")
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
        elif name == "export":
            self.log_line(f"exported to {result['path']}")
