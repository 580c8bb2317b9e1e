"""Tab 2: how each row becomes a training example.

A preset (or your own column templates) and the output format, with the
first rows rendered live as the templates change. Enter in a template posts
``Done`` (the screen moves on to Split & write).
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Input, Label, Select, Static

from core.data.presets import FORMATS, PRESETS, check_columns, custom_preset
from core.runtime.errors import TuneDeckError
from tui.widgets.data.examples import render_example
from tui.widgets.data.tab import DataTab
from tui.widgets.status_line import Status, render_status

CUSTOM = "custom"
KEEP = "keep"  # format option: the rows' own (preset as-is)
ROLES = ("system", "user", "assistant")
NO_SOURCE = "Load a source first."


class MapTab(DataTab):
    DEFAULT_CSS = "MapTab #rendered { padding: 0 1; height: auto; }"

    class Done(Message):
        """The templates are as wanted: go on to split and write."""

    def __init__(self, title: str = "2 Map", *, id: str = "tab-map") -> None:
        super().__init__(title, id=id)
        self.source = None  # core.data.rows.Source whose rows are rendered

    def compose(self) -> ComposeResult:
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
        for role in ROLES:
            with Horizontal(classes="row"):
                yield Label(f"{role:>9}")
                yield Input(placeholder="{column} template", id=f"tpl-{role}")
        with VerticalScroll(id="map-body"):
            yield Static(NO_SOURCE, id="rendered")

    # -- the source ------------------------------------------------------
    def show_source(self, source, preset: str | None) -> None:
        """Render ``source`` with ``preset`` (None: none fits, your own templates)."""
        self.source = source
        self.query_one("#preset", Select).value = preset or CUSTOM
        self.query_one("#format", Select).value = KEEP if preset == "as-is" else "chat"
        self.fill_templates()

    def forget_source(self) -> None:
        self.source = None
        self.query_one("#rendered", Static).update(NO_SOURCE)

    # -- the boxes -------------------------------------------------------
    @on(Select.Changed, "#preset")
    def preset_changed(self) -> None:
        self.fill_templates()  # which renders the preview

    @on(Select.Changed, "#format")
    def format_changed(self) -> None:
        self.render_preview()

    @on(Input.Changed, "#tpl-system, #tpl-user, #tpl-assistant")
    def template_changed(self) -> None:
        self.render_preview()

    @on(Input.Submitted, "#tpl-system, #tpl-user, #tpl-assistant")
    def template_submitted(self) -> None:
        self.post_message(self.Done())

    def fill_templates(self) -> None:
        name = self.preset_name
        preset = PRESETS.get(name)
        for role in ROLES:
            box = self.query_one(f"#tpl-{role}", Input)
            box.disabled = name == "as-is"
            if preset is not None:
                box.value = getattr(preset, role).replace("\n", "\\n")
        self.render_preview()

    # -- what the build takes --------------------------------------------
    @property
    def preset_name(self) -> str:
        return self.query_one("#preset", Select).value

    def templates(self) -> dict[str, str]:
        return {role: self.query_one(f"#tpl-{role}", Input).value.replace("\\n", "\n") for role in ROLES}

    def current_preset(self):
        name, t = self.preset_name, self.templates()
        if name == CUSTOM:
            return custom_preset(t["user"], t["assistant"], t["system"])
        return PRESETS[name].with_templates(**t) if name != "as-is" else PRESETS[name]

    def output_format(self) -> str | None:
        """None keeps the rows' own format (as-is), else chat when 'keep' makes no sense."""
        value = self.query_one("#format", Select).value
        if value == KEEP:
            return None if self.preset_name == "as-is" else "chat"
        return value

    def render_preview(self) -> None:
        out = self.query_one("#rendered", Static)
        if self.source is None:
            return
        from core.data.build import render_rows  # deferred as on the screen before: it opens sources

        try:
            preset = self.current_preset()
            check_columns(preset, self.source.columns)
            rows = render_rows(self.source, preset, self.output_format() or "", range(min(3, len(self.source))))
        except TuneDeckError as exc:
            out.update(render_status(Status.failed(exc)))
            return
        text = Text()
        for i, record, problem in rows:
            text.append(f"{self.source.where(i)}\n", style="bold underline")
            if record is None:
                text.append(f"  skipped: {problem}\n", style="red")
            else:
                text.append_text(render_example(record))
        out.update(text)
