"""CLI messages in the CLI's words: its usage, its flags (never a TUI key)."""

import pytest

from tui.cli import main


def test_a_stray_argument_gets_the_commands_usage(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["runs", "--bogus"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "usage: tunedeck runs" in err and "tunedeck runs: error: unrecognized arguments: --bogus" in err
    with pytest.raises(SystemExit):
        main(["data", "check", "x", "--bogus"])  # a nested command: its own usage too
    assert "usage: tunedeck data check" in capsys.readouterr().err
