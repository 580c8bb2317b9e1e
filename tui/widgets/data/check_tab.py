"""Tab 4: the folder as training will read it.

The check's outcome (the first training example, or the problems found),
then on ctrl+g the token lengths per split against ``max_seq_length``, their
histogram and the first example's masked/trained tokens. Enter in the
max_seq_length box posts ``TokensRequested``.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Checkbox, Input, Label, Static

from tui.widgets.data.examples import render_example, render_tokens
from tui.widgets.data.tab import DataTab


class CheckTab(DataTab):
    DEFAULT_CSS = """
    CheckTab #token-info, CheckTab #token-preview { padding: 0 1; height: auto; }
    CheckTab #token-preview { margin: 0 0 1 0; }
    CheckTab #check-body { height: 1fr; }
    CheckTab #token-plot { height: 12; display: none; }
    """

    class TokensRequested(Message):
        """Measure the chosen dataset's token lengths with the boxes' settings."""

    def __init__(self, title: str = "4 Check", *, id: str = "tab-check") -> None:
        super().__init__(title, id=id)

    def compose(self) -> ComposeResult:
        with Horizontal(classes="row"):
            yield Label("max_seq_length")
            yield Input("2048", id="max-seq", classes="short")
            yield Checkbox("mask prompt", id="mask", value=True)
        with VerticalScroll(id="check-body"):
            yield Static("", id="token-info")
            yield Static("", id="token-preview")
            yield Static("", id="preview", classes="detail")

    def on_mount(self) -> None:
        # The app stylesheet gives #preview 1fr (it outranks DEFAULT_CSS); here
        # it sits in a scroll area below the plot, so it takes its own height.
        self.query_one("#preview").styles.height = "auto"

    @on(Input.Submitted, "#max-seq")
    def max_seq_submitted(self) -> None:
        self.post_message(self.TokensRequested())

    @property
    def max_seq_length(self) -> int | None:
        """The whole number typed; None for anything else."""
        try:
            return int(self.query_one("#max-seq", Input).value)
        except ValueError:
            return None

    @property
    def mask_prompt(self) -> bool:
        return self.query_one("#mask", Checkbox).value

    # -- the check -------------------------------------------------------
    def clear(self) -> None:
        for plot in self.query("#token-plot"):
            plot.display = False
        self.query_one("#token-info", Static).update("")
        self.query_one("#token-preview", Static).update("")

    def show_passed(self, report, example: dict | None) -> None:
        text = Text("First training example:\n", style="bold") + render_example(example)
        for p in report.problems[:3]:
            text.append(f"{p}\n", style="yellow")
        self.query_one("#preview", Static).update(text)

    def show_problems(self, report, folder: str) -> None:
        lines = [str(p) for p in report.problems[:12]]
        if report.errors + report.warnings > 12:
            lines.append(f"… run `tunedeck data check {folder}` for all of them")
        self.query_one("#preview", Static).update("\n".join(lines))

    def show_nothing(self) -> None:
        self.query_one("#preview", Static).update("")

    # -- the tokens ------------------------------------------------------
    def show_tokens(self, report) -> None:
        lines = Text()
        for split in report.splits.values():
            style = "yellow" if split.over else ""
            lines.append(split.summary(report.max_seq_length) + "\n", style=style)
        self.query_one("#token-info", Static).update(lines)
        self.query_one("#token-preview", Static).update(render_tokens(report))
        self.plot_tokens(report)

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
