"""What an mlx-lm data record is: its kind and its parts, in one place.

mlx-lm (``mlx_lm/tuner/datasets.py``, ``create_dataset``) knows three kinds
and looks for them in this order, in the **first record of a file only**:

- completions: a ``prompt`` and a ``completion`` key (renamed by the
  ``prompt_feature`` / ``completion_feature`` settings), rendered through the
  chat template as a user turn then an assistant turn;
- chat: a ``messages`` list (``chat_feature``) of ``{role, content}``;
- text: a ``text`` string (``text_feature``), tokenized as it is, EOS added.

Every later record of that file is read with the same kind's keys (one that
lacks them fails mid-run); other keys are ignored, except ``tools``, which
chat and completions records hand to the chat template. With the prompt
mask, the trained part is the **last message, whatever its role**, and the
prompt everything before it; text has no prompt and refuses the mask.

Whether the values are sound (roles, strings, empty turns) is the data
check's business (``core.data.check``); this module only says what mlx-lm
would read.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

KINDS = ("chat", "completions", "text")
TOOLS = "tools"  # not configurable in mlx-lm


@dataclass(frozen=True)
class Keys:
    """The key names mlx-lm reads; the defaults are its own."""

    prompt: str = "prompt"
    completion: str = "completion"
    chat: str = "messages"
    text: str = "text"

    @classmethod
    def from_config(cls, config) -> Keys:
        """From an object carrying mlx-lm's ``*_feature`` settings (a
        namespace or the ``mlx_lm.lora -c`` YAML's keys)."""
        get = config.get if isinstance(config, dict) else lambda k, d: getattr(config, k, d)
        return cls(
            get("prompt_feature", cls.prompt),
            get("completion_feature", cls.completion),
            get("chat_feature", cls.chat),
            get("text_feature", cls.text),
        )

    def of(self, kind: str) -> tuple[str, ...]:
        """The keys mlx-lm's dataset class for ``kind`` reads from every record."""
        return {"chat": (self.chat,), "completions": (self.prompt, self.completion), "text": (self.text,)}[kind]


DEFAULT = Keys()


def kind_of_columns(columns: Collection[str], keys: Keys = DEFAULT) -> str | None:
    """The kind mlx-lm picks for records with these keys, or None (it refuses them)."""
    if keys.prompt in columns and keys.completion in columns:
        return "completions"
    if keys.chat in columns:
        return "chat"
    if keys.text in columns:
        return "text"
    return None


def kind_of(record, keys: Keys = DEFAULT) -> str | None:
    """The kind mlx-lm picks for a file whose first record is ``record``."""
    return kind_of_columns(record, keys) if isinstance(record, dict) else None


def reads(record, kind: str, keys: Keys = DEFAULT) -> bool:
    """Whether a later record of a ``kind`` file has the keys mlx-lm reads."""
    return isinstance(record, dict) and all(key in record for key in keys.of(kind))


@dataclass(frozen=True)
class Record:
    """One record as mlx-lm reads it."""

    kind: str
    messages: list | None = None  # chat, completions: what goes through the chat template
    tools: object = None  # chat, completions: handed to the chat template as is
    text: str | None = None  # text: the string tokenized

    @property
    def prompt(self) -> list:
        """What the prompt mask hides: every message but the last."""
        return list(self.messages[:-1]) if self.messages else []

    @property
    def trained(self) -> dict | None:
        """The turn the prompt mask leaves trained: the last message."""
        return self.messages[-1] if self.messages else None

    @property
    def reference(self) -> str | None:
        """The answer the data gives: the last message's content when it is
        the assistant's (a conversation ending on another turn gives none)."""
        last = self.trained
        if isinstance(last, dict) and last.get("role") == "assistant" and isinstance(last.get("content"), str):
            return last["content"]
        return None

    @property
    def question(self) -> list:
        """The messages to ask a model: the prompt before the reference answer,
        the whole conversation when there is none, the text as a user turn."""
        if self.kind == "text":
            return [{"role": "user", "content": self.text}]
        return self.prompt if self.reference is not None else list(self.messages or [])

    @property
    def system(self) -> str | None:
        first = self.messages[0] if self.messages else None
        if isinstance(first, dict) and first.get("role") == "system" and isinstance(first.get("content"), str):
            return first["content"]
        return None


def parse(record: dict, kind: str | None = None, keys: Keys = DEFAULT) -> Record:
    """``record`` read as mlx-lm reads it: as ``kind`` (its file's kind, from
    the file's first record) or, without one, as its own kind. Raises
    ValueError when it has no kind or lacks ``kind``'s keys."""
    kind = kind or kind_of(record, keys)
    if kind is None:
        raise ValueError("not an mlx-lm record: no messages, prompt and completion, or text")
    if not reads(record, kind, keys):
        raise ValueError(f"not a {kind} record: it lacks {', '.join(k for k in keys.of(kind) if k not in record)}")
    if kind == "text":
        return Record("text", text=record[keys.text])
    if kind == "chat":
        return Record("chat", messages=record[keys.chat], tools=record.get(TOOLS))
    messages = [
        {"role": "user", "content": record[keys.prompt]},
        {"role": "assistant", "content": record[keys.completion]},
    ]
    return Record("completions", messages=messages, tools=record.get(TOOLS))
