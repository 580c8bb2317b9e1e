"""Textual messages that carry engine events into the UI thread."""

from __future__ import annotations

from textual.message import Message

from core.runtime import events as ev


class EngineEvent(Message):
    """One ``core.runtime.events`` object, posted from the MLX worker thread.

    ``post_message`` is thread-safe; handlers run on the UI's event loop, so
    they may touch widgets. Floods of progress lines coalesce.
    """

    def __init__(self, event: ev.Event) -> None:
        super().__init__()
        self.event = event

    def can_replace(self, message: Message) -> bool:
        return (
            isinstance(message, EngineEvent)
            and isinstance(self.event, ev.Progress)
            and isinstance(message.event, ev.Progress)
            and message.event.job_id == self.event.job_id
        )
