"""Write files and folders so that a crash never leaves half of one behind.

Everything TuneDeck produces (datasets, adapters, checkpoints, configs) goes
through these helpers: write to a temporary sibling, flush, then rename over
the target. A rename within one filesystem is atomic on POSIX, so a reader
(or a resumed run) sees either the old complete file or the new one.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from core.errors import writing


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temp path beside ``target``; on success rename it over target.

    ``suffix`` keeps an extension some writers insist on (safetensors).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + suffix, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(0o644)  # mkstemp makes it 0600; results are ordinary files
    try:
        with writing(target):  # a full disk is named as such, with the target
            yield tmp_path
            _fsync_file(tmp_path)
            os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_text(target: str | Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(target: str | Path, data) -> None:
    write_text(target, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """Yield a temp folder beside ``target``; on success it replaces target.

    On an exception (or cancellation raised as one) the temp folder is removed
    and any existing target is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    tmp.chmod(0o755)  # mkdtemp makes it 0700; the result is an ordinary folder
    try:
        with writing(target):
            yield tmp
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _fsync_file(path: Path) -> None:
    try:
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())
    except OSError:
        pass  # not all filesystems support fsync; the rename is still atomic


def write_new_text(target: str | Path, text: str) -> None:
    """Write a file that must not exist yet, whole or not at all.

    The temp file is hard-linked to the name, which fails when anything is
    there (even something that appeared a moment ago): nothing is replaced.
    Raises FileExistsError.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:  # a file where a folder should be: not "the name is taken"
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(exc.filename or target.parent)) from exc
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp_path = Path(tmp)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        tmp_path.chmod(0o644)
        _fsync_file(tmp_path)
        try:
            os.link(tmp_path, target)
        except FileExistsError:
            raise
        except OSError:  # no hard links here (FAT, some network shares): check, then rename
            if os.path.lexists(target):
                raise FileExistsError(errno.EEXIST, "file exists", str(target)) from None
            os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)
