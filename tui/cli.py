"""``tunedeck``: the TUI by default, plus headless commands for scripts.

Headless commands print plain lines (no colour) and exit non-zero on
failure; they never show a traceback for a mistake the user can fix.
The commands themselves live in ``tui/commands/``, one module per area.
"""

from __future__ import annotations

import argparse
import sys

from core.errors import Cancelled, TuneDeckError


def _parser() -> argparse.ArgumentParser:
    from tui.commands import AREAS

    p = argparse.ArgumentParser(prog="tunedeck", description="Fine-tune local LLMs with MLX, from the terminal.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for area in AREAS:
        area.register(sub)
    return p


def run_tui() -> int:
    from tui.app import make_app

    make_app().run()
    return 0


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # a real process start (not a test calling main): before mlx loads
        from core.blas import maybe_preload

        maybe_preload()
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            return run_tui()
        return args.func(args)
    except TuneDeckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `tunedeck models | head`: the reader left; not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
    except Cancelled:
        print("stopped", file=sys.stderr)
        return 130
    except Exception as exc:  # unexpected: one line here, the traceback in the log
        from core.errors import explain
        from core.log import log_exception

        known = explain(exc)  # a full disk, a missing path…: said as such
        if known is not None:
            print(f"error: {known}", file=sys.stderr)
            return 1
        path = log_exception(f"tunedeck {args.command} failed")
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        if path:
            print(f"  details: {path}", file=sys.stderr)
        return 1
