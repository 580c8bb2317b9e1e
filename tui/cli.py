"""``tunedeck``: the TUI by default, plus headless commands for scripts.

Headless commands print plain lines (no colour) and exit non-zero on
failure; they never show a traceback for a mistake the user can fix.
The commands themselves live in ``tui/commands/``, one module per area.
"""

from __future__ import annotations

import argparse
import sys

from core.runtime.errors import Cancelled, TuneDeckError


class CommandParser(argparse.ArgumentParser):
    """A command's parser: an argument it does not know is reported with this
    command's usage, not the top level's (argparse leaves stray arguments to
    the top parser, which only knows the command names)."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:  # a subcommand takes every argument after its name: these are its own
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras


def _parser() -> argparse.ArgumentParser:
    from tui.commands import AREAS

    p = argparse.ArgumentParser(prog="tunedeck", description="Fine-tune local LLMs with MLX, from the terminal.")
    # Nested subcommands (data build, models download) inherit the class.
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=CommandParser)
    for area in AREAS:
        area.register(sub)
    return p


def run_tui() -> int:
    from tui.app import make_app

    app = make_app()
    app.run()
    # A job still stopping (a training run writing the checkpoint of its
    # last step) finishes before the process ends, however the app ended.
    app.engine.shutdown(timeout=None, reason="the app closed")
    return app.return_code or 0


def _in_cli_words(exc: TuneDeckError, args) -> TuneDeckError:
    """A refused write of TuneDeck's own earlier output says how to replace
    it with this command's flag (core's hint names no interface)."""
    from core.runtime.targets import TargetRefused

    if isinstance(exc, TargetRefused) and exc.replaceable:
        place = "folder" if exc.folder else "file name"
        exc.hint = (
            f"pass --overwrite to replace it, or choose another {place}"
            if hasattr(args, "overwrite")
            else f"choose another {place} (this command never replaces one)"
        )
    return exc


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # a real process start (not a test calling main): before mlx loads
        from core.runtime.blas import maybe_preload

        maybe_preload()
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            return run_tui()
        return args.func(args)
    except TuneDeckError as exc:
        print(f"error: {_in_cli_words(exc, args)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `tunedeck models | head`: the reader left; not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
    except Cancelled:
        from tui.commands.common import stop_exit_code

        print("stopped", file=sys.stderr)
        return stop_exit_code()
    except Exception as exc:  # unexpected: one line here, the traceback in the log
        from core.runtime.errors import explain
        from core.runtime.log import log_exception

        known = explain(exc)  # a full disk, a missing path…: said as such
        if known is not None:
            print(f"error: {known}", file=sys.stderr)
            return 1
        path = log_exception(f"tunedeck {args.command} failed")
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        if path:
            print(f"  details: {path}", file=sys.stderr)
        return 1
