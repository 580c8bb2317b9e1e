"""Presets: how source columns become one training example.

A preset is three templates in ``str.format`` style (``"{question}"``): an
optional system prompt, the user turn and the assistant turn. The same three
render every output format, so one mapping serves all of them:

- chat:        {"messages": [system?, user, assistant]}
- completions: {"prompt": system + user, "completion": assistant}
- text:        {"text": system + user + assistant}
"""

from __future__ import annotations

import string
from dataclasses import dataclass, replace

from core.data import records
from core.data.sample_data import SYSTEM_PROMPT as SQL_SYSTEM_PROMPT
from core.runtime.errors import TuneDeckError

FORMATS = ("chat", "completions", "text")


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    user: str
    assistant: str
    system: str = ""
    format: str = "chat"

    @property
    def columns(self) -> list[str]:
        """Every column the templates name, in order of first use."""
        seen: list[str] = []
        for template in (self.system, self.user, self.assistant):
            for col in template_columns(template):
                if col not in seen:
                    seen.append(col)
        return seen

    def with_templates(
        self, system: str | None = None, user: str | None = None, assistant: str | None = None
    ) -> Preset:
        changes = {k: v for k, v in (("system", system), ("user", user), ("assistant", assistant)) if v is not None}
        return replace(self, **changes) if changes else self


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "text-to-sql",
            "b-mc2/sql-create-context shape: schema in the system prompt, question -> SQL",
            system=SQL_SYSTEM_PROMPT.replace("{schema}", "{context}"),
            user="{question}",
            assistant="{answer}",
        ),
        Preset(
            "instruction",
            "Alpaca shape: instruction (+ optional input) -> output",
            user="{instruction}\n\n{input}",
            assistant="{output}",
        ),
        Preset("question-answer", "a question column and an answer column", user="{question}", assistant="{answer}"),
        Preset("prompt-response", "a prompt column and a response column", user="{prompt}", assistant="{response}"),
        # Rows that are already mlx-lm records (an mlx-lm folder, a JSONL export).
        Preset(
            "as-is",
            "rows already in mlx-lm format (messages, prompt/completion or text): kept unchanged",
            user="",
            assistant="",
            format="",
        ),
    )
}

# Columns some presets can do without (an empty Alpaca "input" is common).
OPTIONAL = {"input"}


def template_columns(template: str) -> list[str]:
    try:
        return [field.split(".")[0].split("[")[0] for _, field, _, _ in string.Formatter().parse(template) if field]
    except ValueError as exc:
        raise TuneDeckError(
            f"template {template!r} is not valid: {exc}",
            "write columns as {name}; double braces {{ }} for a literal brace",
        ) from exc


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise TuneDeckError(
            f"unknown preset {name!r}", "choose one of: " + ", ".join(PRESETS) + " (or give --user and --assistant)"
        )
    return PRESETS[name]


def custom_preset(user: str, assistant: str, system: str = "") -> Preset:
    return Preset("custom", "your own column templates", user=user, assistant=assistant, system=system)


def suggest_preset(columns: list[str]) -> str | None:
    """The first preset whose columns the source has (most specific first)."""
    cols = set(columns)
    kind = records.kind_of_columns(cols)
    # A text column beside others is more likely raw material for a preset.
    if kind in ("chat", "completions") or (kind == "text" and len(cols) == 1):
        return "as-is"
    for preset in PRESETS.values():
        needed = set(preset.columns) - OPTIONAL
        if needed and needed <= cols:
            return preset.name
    return None


def check_columns(preset: Preset, columns: list[str]) -> None:
    """Fail early, naming the unknown columns and listing the available ones."""
    if preset.name == "as-is":
        if suggest_preset(columns) != "as-is":
            raise TuneDeckError(
                f"preset 'as-is' needs rows already in mlx-lm format; the source has columns {', '.join(columns)}",
                "pick a preset that maps these columns, or write your own templates",
            )
        return
    optional = set() if preset.name == "custom" else OPTIONAL
    missing = [c for c in preset.columns if c not in columns and c not in optional]
    if missing:
        # Templates the user wrote or edited are theirs, not the preset's.
        whose = f"preset {preset.name!r}" if PRESETS.get(preset.name) == preset else "the templates"
        raise TuneDeckError(
            f"{whose} use{'s' if whose.startswith('preset') else ''} column(s) {', '.join(missing)} "
            "that the source does not have",
            f"available columns: {', '.join(columns) or 'none'}; write them as "
            f"{{{columns[0] if columns else 'question'}}} in the system/user/assistant templates",
        )


def _fill(template: str, row: dict) -> str:
    values = {k: "" if v is None else v for k, v in row.items()}
    for col in template_columns(template):
        values.setdefault(col, "")  # optional columns
    try:
        return template.format_map(values).strip()
    except (IndexError, AttributeError, KeyError, TypeError, ValueError) as exc:
        raise TuneDeckError(
            f"template {template!r} cannot be filled: {exc}",
            "use plain {column} names; no positions ({0}), attributes or indexes",
        ) from exc


def render(preset: Preset, row: dict, fmt: str) -> dict:
    """One mlx-lm record from one source row (may be empty: check_record it)."""
    if preset.name == "as-is":
        return _as_is(row, fmt)
    system = _fill(preset.system, row)
    user = _fill(preset.user, row)
    assistant = _fill(preset.assistant, row)
    if fmt == "chat":
        messages = [{"role": "system", "content": system}] if system else []
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
        return {"messages": messages}
    prompt = f"{system}\n\n{user}" if system else user
    if fmt == "completions":
        return {"prompt": prompt, "completion": assistant}
    if fmt == "text":
        return {"text": f"{prompt}\n{assistant}"}
    raise TuneDeckError(f"unknown format {fmt!r}", "use chat, completions or text")


def _as_is(row: dict, fmt: str) -> dict:
    """Keep an mlx-lm record, converting between formats where that is lossless enough."""
    # A table's missing cells are None: a record without those keys.
    row = {k: v for k, v in row.items() if v is not None}
    current = records.kind_of(row)
    if current is None:
        return {}  # no kind: the record check names what is missing
    keep = records.DEFAULT.of(current) + ((records.TOOLS,) if current != "text" else ())
    kept = {k: row[k] for k in keep if k in row}
    if not fmt or fmt == current:
        return kept
    if current == "text":
        raise TuneDeckError(
            "text records cannot be turned into chat or completions", "keep --format text for this source"
        )
    msgs = records.parse(row, current).messages
    if not isinstance(msgs, list) or not all(isinstance(m, dict) for m in msgs):
        return kept  # not a conversation: kept for the record check to say why
    system = "\n".join(str(m.get("content", "")) for m in msgs if m.get("role") == "system")
    user = "\n".join(str(m.get("content", "")) for m in msgs if m.get("role") == "user")
    answer = next((str(m.get("content", "")) for m in reversed(msgs) if m.get("role") == "assistant"), "")
    as_row = {"s": system, "u": user, "a": answer}
    return render(Preset("x", "", system="{s}", user="{u}", assistant="{a}"), as_row, fmt)
