"""Saving a chat never replaces a file: `chat --save FILE` asks in a
terminal and refuses otherwise; the TUI's ctrl+s always takes a new name."""

import io
import sys

import pytest

from core.chat import transcript as tx
from core.runtime.errors import TuneDeckError
from tui.cli import main


class Terminal(io.StringIO):
    """stdin as an interactive terminal that types ``answer``."""

    def isatty(self):
        return True


def _transcript(path, text="old chat\n"):
    path.write_text(f"{tx.HEADING}\n\n{text}")
    return path


def test_save_refuses_before_any_answer(demo_model, tmp_path, capsys):
    notes = tmp_path / "notes.md"
    notes.write_text("my notes")
    assert main(["chat", "--model", demo_model, "--prompt", "hi", "--save", str(notes), "--overwrite"]) == 1
    err = capsys.readouterr().err
    assert "is not a TuneDeck transcript, so it is never replaced" in err and notes.read_text() == "my notes"

    old = _transcript(tmp_path / "old.md")
    assert main(["chat", "--model", demo_model, "--prompt", "hi", "--save", str(old)]) == 1  # stdin: not a tty
    captured = capsys.readouterr()
    assert "already exists" in captured.err and "--overwrite" in captured.err and captured.out == ""
    assert old.read_text().endswith("old chat\n")


def test_save_asks_in_a_terminal(demo_model, tmp_path, capsys, monkeypatch):
    old = _transcript(tmp_path / "old.md")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
    assert main(["chat", "--model", demo_model, "--prompt", "hi", "--save", str(old)]) == 1
    err = capsys.readouterr().err
    assert "Replace it? [y/N]" in err and "kept" in err and old.read_text().endswith("old chat\n")

    monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
    assert main(["chat", "--model", demo_model, "--prompt", "hi", "--max-tokens", "3", "--save", str(old)]) == 0
    assert f"transcript: {old}" in capsys.readouterr().err
    assert "old chat" not in old.read_text() and "**You:**" in old.read_text()


def test_overwrite_replaces_only_a_transcript(tmp_path):
    t = tx.Transcript(model="m", turns=[tx.Turn("q", [tx.Answer("a", "text", stop_reason="stop")])])
    old = _transcript(tmp_path / "old.md")
    with pytest.raises(TuneDeckError, match="already exists"):
        tx.save(t, old)
    assert tx.save(t, old, overwrite=True) == old and "**You:**" in old.read_text()
    (tmp_path / "mine.md").write_text("mine")
    with pytest.raises(TuneDeckError, match="a file TuneDeck did not write"):
        tx.save(t, tmp_path / "mine.md", overwrite=True)
    assert (tmp_path / "mine.md").read_text() == "mine"


def test_default_names_never_clobber(tmp_path, monkeypatch):
    """ctrl+s: two saves in the same second, and a file of the user's that
    has the name the stamp gives, all survive."""
    monkeypatch.setattr(tx.time, "strftime", lambda fmt, *a: "chat-20260101-120000" if "chat" in fmt else "now")
    t = tx.Transcript(model="m")
    (tmp_path / "chat-20260101-120000.md").write_text("user's own file")
    first, second = tx.save(t, tmp_path), tx.save(t, tmp_path)
    assert (first.name, second.name) == ("chat-20260101-120000-2.md", "chat-20260101-120000-3.md")
    assert (tmp_path / "chat-20260101-120000.md").read_text() == "user's own file"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "chat-20260101-120000-2.md",
        "chat-20260101-120000-3.md",
        "chat-20260101-120000.md",
    ]  # no temp left


def test_write_new_text_refuses_a_name_that_appeared(tmp_path):
    from core.runtime.atomic import write_new_text

    write_new_text(tmp_path / "a.md", "one")
    with pytest.raises(FileExistsError):
        write_new_text(tmp_path / "a.md", "two")
    assert (tmp_path / "a.md").read_text() == "one" and [p.name for p in tmp_path.iterdir()] == ["a.md"]
