"""The README's screen captures, kept true by the snapshot tests.

Each capture in README.md is a ``` block right after a marker line
``<!-- capture: NAME -->``; a test renders the screen state it shows and
``check`` compares the two. With ``TUNEDECK_UPDATE_README=1`` set, ``check``
rewrites that block in place (nothing else of the README) instead of failing.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
UPDATE_VARIABLE = "TUNEDECK_UPDATE_README"
UPDATE_COMMAND = f"{UPDATE_VARIABLE}=1 pytest tests/test_snapshots.py"


def _block(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- capture: {re.escape(name)} -->\n```\n)(.*?)(^```$)", re.S | re.M)


def tidy(screen: str) -> str:
    """A screen as the README shows it: no trailing spaces on any line."""
    return "\n".join(line.rstrip() for line in screen.split("\n")) + "\n"


def find(readme: str, name: str) -> str:
    found = _block(name).findall(readme)
    if len(found) != 1:
        raise AssertionError(
            f"README.md needs exactly one <!-- capture: {name} --> line followed by a ``` block (found {len(found)})"
        )
    return found[0][1]


def replace(readme: str, name: str, screen: str) -> str:
    find(readme, name)  # exactly one, or say so
    return _block(name).sub(lambda m: m.group(1) + tidy(screen) + m.group(3), readme)


def difference(readme: str, name: str, screen: str) -> str:
    """A unified diff of the README's capture against the screen ('' when they agree)."""
    shown, actual = find(readme, name), tidy(screen)
    if shown == actual:
        return ""
    return "".join(
        difflib.unified_diff(
            shown.splitlines(keepends=True),
            actual.splitlines(keepends=True),
            f"README.md capture: {name}",
            "the screen now",
        )
    )


def check(name: str, screen: str, readme_path: Path = README) -> None:
    """Fail with a diff when the README's capture ``name`` is not ``screen``
    (or rewrite it, with TUNEDECK_UPDATE_README=1)."""
    readme = readme_path.read_text(encoding="utf-8")
    diff = difference(readme, name, screen)
    if not diff:
        return
    if os.environ.get(UPDATE_VARIABLE) == "1":
        part = readme_path.with_name(readme_path.name + ".part")
        part.write_text(replace(readme, name, screen), encoding="utf-8")
        part.replace(readme_path)  # atomic: a README is never left half written
        return
    raise AssertionError(
        f"The README's {name} capture is not what the screen shows now:\n{diff}\n"
        f"If the screen is right, update the README's captures with: {UPDATE_COMMAND} "
        "(add --snapshot-update when its pictures changed too)"
    )
