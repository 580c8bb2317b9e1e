"""Write files and folders so that a crash never leaves half of one behind.

The mechanics under every write: write to a temporary sibling, flush, then
rename over the target. A rename within one filesystem is atomic on POSIX,
so a reader (or a resumed run) sees either the old complete file or the new
one. Whether a target may be written or replaced at all is decided by
``core.runtime.targets`` (the one rule for paths a person names); this module only
ever removes its own temporary names, plus the old target when its caller
says it may be replaced.

Temporary names are ``.NAME.XXXXXXXX.tmp[SUFFIX]`` (``tempfile``'s eight
random characters) and, for the moment of a folder swap, ``.NAME.old-PID``;
``temp_target`` recognises exactly these, so a clean-up after a crash never
touches a name TuneDeck did not make.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from core.runtime import errors
from core.runtime.errors import TuneDeckError

TMP = ".tmp"
_STEM = 64  # bytes of the target's name its temp names keep (a name may have at most 255)
_TEMP = re.compile(r"^\.(?P<stem>.+)\.[a-z0-9_]{8}\.tmp(?P<suffix>.*)$")
_ASIDE = re.compile(r"^\.(?P<stem>.+)\.old-\d+$")
FULL_BELOW = 1 << 20  # a failed write with less free space than this is a full disk


def _stem(name: str) -> str:
    """The part of a name its temp names keep (at most _STEM bytes, whole characters)."""
    stem = name[:_STEM]
    while len(os.fsencode(stem)) > _STEM:
        stem = stem[:-1]
    return stem


def _prefix(name: str) -> str:
    return f".{_stem(name)}."


def temp_target(entry: str, names) -> tuple[str, str] | None:
    """(target name, "temp" | "aside") when ``entry`` is a temporary name
    this module makes for one of ``names``; None for anything else."""
    for pattern, what in ((_TEMP, "temp"), (_ASIDE, "aside")):
        m = pattern.match(entry)
        if m:
            for name in names:
                if m["stem"] == _stem(name) and (what == "aside" or m["suffix"] in ("", Path(name).suffix)):
                    return name, what
    return None


def disk_full(exc: BaseException, target: str | Path) -> TuneDeckError | None:
    """The error to show when ``exc`` means the disk under ``target`` is full.

    Python says ENOSPC; MLX only says "[write] Unable to write N bytes", so a
    failed write is also called a full disk when the filesystem has (almost)
    no room left. Call it before the temp file is removed (that frees space).
    """
    if isinstance(exc, TuneDeckError):
        return None
    if errors.is_disk_full(exc):
        full = True
    elif isinstance(exc, (OSError, RuntimeError)) and (
        "writ" in str(exc).lower() or (isinstance(exc, OSError) and exc.errno is None)
    ):
        # MLX's message, or a short write with no errno (numpy's ``tofile``)
        full = free_bytes(target) < FULL_BELOW
    else:
        full = False
    return errors.disk_full(target) if full else None


def free_bytes(path: str | Path) -> int:
    """Free bytes on the filesystem that holds ``path`` (or its nearest existing parent)."""
    path = Path(path)
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    try:
        st = os.statvfs(path)
    except OSError:
        return 1 << 62
    return st.f_bavail * st.f_frsize


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str = "", replace: bool | Callable[[], bool] = True) -> Iterator[Path]:
    """Yield a temp path beside ``target``; on success rename it over target.

    ``suffix`` keeps an extension some writers insist on (safetensors).
    ``replace`` False (or a function answering False at the moment of the
    rename) puts the file in place only where nothing is: an existing file
    makes it fail with ``FileExistsError`` and stays as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_prefix(target.name), suffix=TMP + suffix, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(0o644)  # mkstemp makes it 0600; results are ordinary files
    try:
        yield tmp_path
        _fsync_file(tmp_path)
        if os.path.lexists(target) and (replace() if callable(replace) else replace):
            os.replace(tmp_path, target)
        else:
            _link_new(tmp_path, target)
    except BaseException as exc:
        full = disk_full(exc, target)
        if full is not None:
            raise full from exc
        raise
    finally:
        tmp_path.unlink(missing_ok=True)


def write_text(target: str | Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(target: str | Path, data) -> None:
    write_text(target, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def atomic_dir(target: str | Path, replace: bool | Callable[[], bool] = False) -> Iterator[Path]:
    """Yield a temp folder beside ``target``; on success it becomes target.

    Without ``replace`` an existing non-empty target makes the rename fail
    and nothing of it is touched. With ``replace`` (a bool, or a function
    asked at the moment of the swap) the caller has proved the old target is
    its own to replace: it is moved aside, the new one renamed in, and the
    old one removed. On an exception (or a cancel raised as one) the temp
    folder is removed and any existing target is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=_prefix(target.name), suffix=TMP, dir=target.parent))
    tmp.chmod(0o755)  # mkdtemp makes it 0700; the result is an ordinary folder
    try:
        yield tmp
        if (
            os.path.lexists(target)
            and (replace() if callable(replace) else replace)
            and target.is_dir()
            and not target.is_symlink()
        ):
            old = target.with_name(f"{_prefix(target.name)[:-1]}.old-{os.getpid()}")
            os.replace(target, old)
            try:
                os.replace(tmp, target)
            except BaseException:
                os.replace(old, target)  # put the old one back before anything else
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            # rename(2) takes the place of an empty folder, and fails on a
            # non-empty one or a file: someone else's files are never replaced.
            os.rename(tmp, target)
    except BaseException as exc:
        full = disk_full(exc, target)
        if full is not None:
            raise full from exc
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _link_new(tmp: Path, target: Path) -> None:
    """Give ``tmp`` the name ``target`` only if nothing has that name: a
    hard link fails on an existing name, so this cannot clobber a file that
    appeared a moment ago. Filesystems without hard links (FAT, some network
    shares) get a check and a rename instead."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise
    except OSError:
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, "File exists", str(target)) from None
        os.replace(tmp, target)


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
