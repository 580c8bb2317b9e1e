"""The chat transcript: turns (the question, the answer views, the
reference), compare mode's two columns, and the scrolling that keeps the
answer being written in view unless the user scrolled away from it."""

from __future__ import annotations

from rich.text import Text
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.errors import NoWidget
from textual.widget import Widget
from textual.widgets import Static

from tui.widgets.answer import AnswerView


def you_widget(text: str) -> Static:
    return Static(Text.assemble(("you: ", "bold cyan"), text), classes="turn")


def reference_widget(reference: str) -> Static:
    return Static(Text.assemble(("reference: ", "bold"), reference), classes="turn reference")


class ChatTranscript(VerticalScroll):
    DEFAULT_CSS = """
    ChatTranscript { height: 1fr; padding: 0 1; }
    ChatTranscript .turn { margin: 0 0 1 0; }
    ChatTranscript .compare-turn { height: auto; }
    ChatTranscript .columns { height: auto; }
    ChatTranscript .columns AnswerView { width: 1fr; }
    ChatTranscript .reference { color: $text-muted; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._followed_y = 0.0  # where the transcript was last scrolled to follow an answer
        self._follow_request: tuple[AnswerView, bool] | None = None  # (view, to the end), not done yet

    # -- turns -------------------------------------------------------------
    def mount_turn(self, *widgets: Widget) -> None:
        self.mount(*widgets)
        self.scroll_end(animate=False)
        self._followed_y = 0.0  # a new question: follow its answers again

    def add_chat_turn(self, question: str, view: AnswerView, reference: str | None) -> None:
        widgets = [you_widget(question), view]
        if reference is not None:
            widgets.append(reference_widget(reference))
        self.mount_turn(*widgets)

    def add_compare_turn(self, question: str, views: list[AnswerView], reference: str | None) -> None:
        """Base and tuned side by side under the question."""
        children = [you_widget(question), Horizontal(*views, classes="columns")]
        if reference is not None:
            children.append(reference_widget(reference))
        self.mount_turn(Vertical(*children, classes="compare-turn"))

    def add_marker(self, text: str) -> None:
        self.mount_turn(Static(text, classes="turn reference"))

    def clear(self) -> None:
        self.remove_children()

    # -- streaming -----------------------------------------------------------
    def stream(self, view: AnswerView, text: str) -> None:
        """Append streamed text to ``view``, following it if the user has not scrolled away."""
        follow = self.following()
        view.append(text)
        if follow:
            self.follow(view)

    def finish(self, view: AnswerView, text: str, note: str, style: str) -> None:
        follow = self.following()
        view.finish(text, note, style)
        if follow:  # keep the stats line in view
            self.follow(view, to_end=True)

    # -- scrolling -----------------------------------------------------------
    def scroll_to_place(self, where: str) -> None:
        {
            "page_up": self.scroll_page_up,
            "page_down": self.scroll_page_down,
            "home": self.scroll_home,
            "end": self.scroll_end,
        }[where](animate=False)

    def following(self) -> bool:
        """Whether to keep the answer being written in view: yes unless the
        user scrolled up from where it last followed."""
        return self.scroll_y >= self._followed_y - 1 or self.scroll_y >= self.max_scroll_y - 1

    def follow(self, view: AnswerView, to_end: bool = False) -> None:
        """After the next layout, scroll so the line under ``view`` (its
        status or statistics) is at the bottom of the transcript. In compare
        mode that is not the transcript's end: the other column can be longer,
        and the end would show only its blank space. ``to_end``: go to the
        very end instead where that still shows the line (e.g. the reference).
        Requests made before the layout catches up collapse into one."""
        if not isinstance(view.parent, Horizontal):
            # A chat answer: its last line is the transcript's end (or just above the
            # reference), so the end it is; no layout lookups per streamed piece.
            self.scroll_end(animate=False)
            return
        pending = self._follow_request is not None
        self._follow_request = (
            view,
            to_end or (pending and self._follow_request[1] and self._follow_request[0] is view),
        )
        if not pending:
            self.call_after_refresh(self._follow_now)

    def _follow_now(self, retry: bool = True) -> None:
        request, self._follow_request = self._follow_request, None
        if request is None:
            return
        view, to_end = request
        note = view.note_widget
        if note is None or not note.is_attached or not self.children:
            return
        first = self.children[0]
        try:  # both regions from the same layout pass, so the scroll offset cancels out
            note_bottom, first_top = (
                self.screen.find_widget(note).region.bottom,
                self.screen.find_widget(first).region.y,
            )
        except NoWidget:  # not laid out (a new chat removed it)
            return
        below = note_bottom - first_top + first.virtual_region.y  # the line's end, in transcript lines
        height = self.scrollable_content_region.height
        now = round(self.scroll_y)
        if to_end and below - 1 >= self.max_scroll_y:
            y = self.max_scroll_y
        elif now < below <= now + height:  # already in view
            y = now
        else:
            y = max(0, below - height)
        if y > self.max_scroll_y and retry:  # the scroll range lags the layout by a frame
            if self._follow_request is None:
                self._follow_request = request
                self.call_after_refresh(self._follow_now, False)
            return
        if y != now:
            self.scroll_to(y=y, animate=False, immediate=True)
        self._followed_y = self.scroll_y
