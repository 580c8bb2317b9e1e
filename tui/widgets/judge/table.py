"""Base vs tuned on the test split: the table of scores and, under it, the
verdict (or the running evaluation's progress in its place)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from core.shipping.provenance import adapter_choice

COLUMNS = ("", "test loss", "ppl", "exact", "valid SQL", "exec", "N")


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def row_cells(row: dict) -> tuple:
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


class JudgeTable(Vertical):
    """The rows by label (base, tuned), as the evaluation reports them."""

    DEFAULT_CSS = """
    JudgeTable { height: auto; }
    JudgeTable #table { height: auto; max-height: 4; margin: 0 1; }
    JudgeTable #verdict { padding: 0 1; height: auto; max-height: 2; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.rows: dict[str, dict] = {}

    def compose(self) -> ComposeResult:
        table = DataTable(id="table", show_cursor=False, zebra_stripes=True)
        table.add_columns(*COLUMNS)
        yield table
        yield Static("", id="verdict")

    def show_rows(self, rows: list[dict]) -> None:
        self.rows = {r["label"]: r for r in rows}
        table = self.query_one(DataTable)
        table.clear()
        for label in ("base", "tuned"):
            if label in self.rows:
                table.add_row(*row_cells(self.rows[label]), key=label)
        self.show_verdict()

    def add_row(self, row: dict) -> None:
        """One model's scores as they arrive (the other may still be judged)."""
        self.show_rows([*(r for label, r in self.rows.items() if label != row["label"]), row])

    def show_verdict(self) -> None:
        self.query_one("#verdict", Static).update(verdict(self.rows))

    def show_status(self, status: str) -> None:
        """A running job's step, where the verdict goes when it is done."""
        self.query_one("#verdict", Static).update(Text(status + "…", style="dim"))
