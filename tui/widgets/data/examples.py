"""How a training example reads on screen: its roles or prompt/completion,
and the first example's tokens as training sees them (masked vs trained)."""

from __future__ import annotations

from rich.text import Text

from core.data import records

STYLE = {"prompt": "dim italic", "trained-prompt": "bold", "trained": "bold green", "cut": "red strike"}


def render_example(example: dict | None) -> Text:
    text = Text()
    if not example:
        return text
    kind = records.kind_of(example)
    if kind == "chat":
        for m in example["messages"]:
            role = m.get("role", "?")
            style = {"system": "dim", "user": "bold", "assistant": "bold green"}.get(role, "")
            text.append(f"{role:>9}: ", style="bold")
            text.append(str(m.get("content", "")).replace("\n", " ⏎ ") + "\n", style=style)
    elif kind == "completions":
        text.append("   prompt: ", style="bold").append(str(example["prompt"]).replace("\n", " ⏎ ") + "\n")
        text.append("completion: ", style="bold").append(str(example["completion"]) + "\n", style="green")
    else:
        text.append(str(example.get("text", ""))[:400].replace("\n", " ⏎ ") + "\n")
    return text


def render_tokens(report) -> Text:
    """The first example as training sees it: masked prompt vs trained tokens."""
    masked, trained = report.preview_tokens
    text = Text()
    text.append("masked (not trained on)", style=STYLE["prompt"]).append("  ")
    text.append("trained", style=STYLE["trained"]).append("  ")
    text.append("cut by max_seq_length", style=STYLE["cut"])
    text.append(f"   {masked} masked / {trained} trained tokens\n")
    for seg in report.preview:
        text.append(seg.text, style=STYLE[seg.kind])
    return text
