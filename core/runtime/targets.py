"""The one rule for writing a file or folder at a path a person names.

Every such write (the sample dataset, the demo model, ``data build --out``,
a run's folder and adapter path, ``fuse --out``, exports, transcripts,
evaluation records, saved configs) goes through ``write_folder`` or
``file_draft`` here:

* the new content is written to a temporary sibling and renamed into place
  (``core.runtime.atomic``), so a crash never leaves half of it looking valid;
* an existing target is replaced only when it is provably TuneDeck's own
  earlier output of the same kind (its marker says so, and nothing in it was
  added or changed since) AND the caller says the user asked for that
  (``overwrite=True``: ``--overwrite`` in the CLI, a confirmation in the TUI);
* anything else (someone's files, a file where a folder belongs, another
  kind of TuneDeck output) is refused with ``TargetRefused`` naming what is
  there. Nothing else is ever deleted or moved aside.

Each folder kind has one marker file (``Kind.marker``), a small JSON object
``{"kind": ..., "created": ..., "files": {path: size}, ...}`` that writers
extend with their own fields (``Draft.marker``). File kinds are known by
their first line (``Kind.header``); binary ones by a check of their own
(``Kind.owns``: a GGUF file by the metadata key TuneDeck writes into it).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from core.runtime.atomic import atomic_dir, atomic_path
from core.runtime.errors import TuneDeckError

# Imported where used, not at module level (import cost, 2 cores): gguf ~0.7 s

LOOSE = frozenset({".DS_Store"})  # Finder drops this into any folder it shows: never "the user's file"


@dataclass(frozen=True)
class Kind:
    name: str  # recorded as the marker's "kind"
    noun: str  # for messages: "an earlier TuneDeck <noun>"
    marker: str = ""  # folder kinds: the marker file inside
    header: str = ""  # file kinds: the text TuneDeck's file starts with ("" = never provably ours)
    owns: Callable[[Path], bool] | None = None  # binary file kinds: whether TuneDeck wrote this file
    legacy: tuple = ()  # marker keys that identify one written before markers named their kind
    legacy_files: frozenset | None = None  # what such an older folder may hold (None: any plain files)

    @property
    def folder(self) -> bool:
        return bool(self.marker)


DATASET = Kind(
    "dataset",
    "dataset",
    "tunedeck.json",
    legacy=("counts", "created"),
    # what versions before markers wrote: fixed, whatever the splits are named today
    legacy_files=frozenset({"train.jsonl", "valid.jsonl", "test.jsonl", "tunedeck.json"}),
)
DEMO_MODEL = Kind(
    "demo-model",
    "demo model",
    "tunedeck_demo.json",
    legacy=("size", "parameters"),
    legacy_files=frozenset(
        {
            "config.json",
            "model.safetensors",
            "tokenizer.json",
            "tokenizer_config.json",
            "special_tokens_map.json",
            "generation_config.json",
            "README.md",
            "tunedeck_demo.json",
        }
    ),
)
FUSED_MODEL = Kind("fused-model", "fused model", "tunedeck_fused.json", legacy=("base_model", "adapter"))
LMSTUDIO_EXPORT = Kind("lmstudio-export", "LM Studio export", "tunedeck_export.json")
RUN = Kind("run", "training run", "tunedeck_run.json")
ADAPTER = Kind("adapter", "adapter folder", "tunedeck_adapter.json")
CONFIG_YAML = Kind("config", "training config", header="# TuneDeck training config")
TRANSCRIPT = Kind("transcript", "chat transcript", header="# TuneDeck chat transcript")
EVAL_RECORD = Kind("eval", "evaluation record", header='{\n  "kind": "eval"', legacy=("rows", "created"))
GGUF_WRITTEN_BY = "tunedeck.written_by"  # a GGUF metadata key: its value is "TuneDeck"


def _gguf_written_by_tunedeck(path: Path) -> bool:
    import gguf  # gguf-py, with numpy: only when a GGUF file is in the way

    try:
        field = gguf.GGUFReader(path).get_field(GGUF_WRITTEN_BY)
        return field is not None and field.contents() == "TuneDeck"
    except Exception:  # not a GGUF file at all, or a damaged one: not provably ours
        return False


GGUF = Kind("gguf", "GGUF file", owns=_gguf_written_by_tunedeck)

FOLDER_KINDS = (DATASET, DEMO_MODEL, FUSED_MODEL, LMSTUDIO_EXPORT, RUN, ADAPTER)


class TargetRefused(TuneDeckError):
    """A write that would destroy what is at its target. ``replaceable``: it
    is TuneDeck's own earlier output of that kind, which the user may ask to
    replace (the CLI says how with ``--overwrite``, the TUI asks)."""

    def __init__(self, message: str, hint: str, path: Path, replaceable: bool = False, folder: bool = True):
        super().__init__(message, hint)
        self.path, self.replaceable, self.folder = path, replaceable, folder


@dataclass
class Found:
    """What is at a target: ``missing``, ``empty`` (a folder), ``own`` (an
    earlier TuneDeck output of that kind), ``other``, or ``blocked`` (a file
    where one of its parent folders should be)."""

    path: Path
    state: str
    detail: str = ""  # what is there, for the message


@dataclass
class Draft:
    path: Path  # the temporary folder to fill
    marker: dict = field(default_factory=dict)  # recorded in the kind's marker file


# -- names -----------------------------------------------------------------
def _limit(path: Path, name: str) -> int:
    probe = path
    while not os.path.lexists(probe) and probe != probe.parent:  # lexists: never raises on a long name
        probe = probe.parent
    try:
        return os.pathconf(probe, name)
    except (OSError, ValueError):
        return 255 if name == "PC_NAME_MAX" else 1024


def check_name(path: str | Path) -> Path:
    """A path every OS call will accept, or a message saying what is wrong
    with it (instead of "File name too long" or "embedded null byte")."""
    text = os.fspath(path)
    if "\0" in text:
        raise TuneDeckError(
            f"the path {text.replace(chr(0), '␀')!r} contains a NUL character", "type the path again without it"
        )
    path = Path(text).expanduser()
    try:
        encoded = os.fsencode(path)
    except UnicodeError:
        raise TuneDeckError(
            f"the path {text!r} cannot be written as a file name on this system",
            "use a name without unpaired surrogate characters",
        ) from None
    most = _limit(path, "PC_NAME_MAX")
    for part in path.parts:
        size = len(os.fsencode(part))
        if size > most:
            raise TuneDeckError(
                f"the name {part[:40]}… is {size} bytes long; this filesystem allows at most "
                f"{most} bytes per file or folder name",
                "choose a shorter name",
            )
    longest = _limit(path, "PC_PATH_MAX")
    if len(encoded) >= longest:
        raise TuneDeckError(
            f"the path {text[:40]}… is {len(encoded)} bytes long; this system allows at most {longest - 1}",
            "choose a shorter path",
        )
    return path


# -- what is there -------------------------------------------------------------
def _listing(folder: Path, kind: Kind) -> dict[str, int]:
    out = {}
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            rel = os.path.relpath(os.path.join(root, name), folder).replace(os.sep, "/")
            if rel != kind.marker and name not in LOOSE:
                out[rel] = os.lstat(os.path.join(root, name)).st_size
    return out


def _a(noun: str) -> str:
    return f"an {noun}" if noun[0] in "aeiouAEIOU" else f"a {noun}"


def _few(names) -> str:
    names = sorted(names)
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def read_marker(folder: str | Path, kind: Kind) -> dict | None:
    """The folder's marker of ``kind`` (or an older one without a kind), else None."""
    try:
        data = json.loads((Path(folder) / kind.marker).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    if data.get("kind") == kind.name or ("kind" not in data and kind.legacy and all(k in data for k in kind.legacy)):
        return data
    return None


def _inspect_folder(path: Path, kind: Kind) -> Found:
    if path.is_symlink() or not path.is_dir():
        return Found(path, "other", "is a file, not a folder" if path.is_file() else "is not a folder")
    try:
        entries = [p for p in path.iterdir() if p.name not in LOOSE]
    except OSError as exc:
        return Found(path, "other", f"cannot be read ({exc.strerror})")
    if not entries:
        return Found(path, "empty")
    marker = read_marker(path, kind)
    if marker is not None:
        actual = _listing(path, kind)
        listed = marker.get("files")
        if isinstance(listed, dict):
            added = set(actual) - set(listed)
            changed = {n for n in set(actual) & set(listed) if actual[n] != listed[n]}
            gone = set(listed) - set(actual)
            if not (added or changed or gone):
                return Found(path, "own", f"written {marker.get('created', '?')}")
            why = "; ".join(
                f"{what}: {_few(names)}"
                for what, names in (("added", added), ("changed", changed), ("missing", gone))
                if names
            )
            return Found(path, "other", f"holds an earlier TuneDeck {kind.noun} that was changed since ({why})")
        allowed = kind.legacy_files
        extra = {n for n in actual if "/" in n or (allowed is not None and n not in allowed)}
        if not extra:
            return Found(path, "own", f"written {marker.get('created', '?')}")
        return Found(path, "other", f"holds other files ({_few(extra)})")
    for other in FOLDER_KINDS:
        if other is not kind and read_marker(path, other) is not None:
            return Found(path, "other", f"holds a TuneDeck {other.noun}, not {_a(kind.noun)}")
    return Found(path, "other", f"holds other files ({_few(p.name + ('/' if p.is_dir() else '') for p in entries)})")


def _inspect_file(path: Path, kind: Kind) -> Found:
    if path.is_dir():
        return Found(path, "other", "is a folder, not a file")
    if kind.header:
        try:
            with open(path, "rb") as fh:
                head = fh.read(4096)
        except OSError:
            head = b""
        if head.startswith(kind.header.encode()):
            return Found(path, "own")
        if kind.legacy:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = None
            if isinstance(data, dict) and all(k in data for k in kind.legacy):
                return Found(path, "own")
    if kind.owns is not None and kind.owns(path):
        return Found(path, "own")
    return Found(path, "other", "a file TuneDeck did not write")


def inspect(target: str | Path, kind: Kind) -> Found:
    path = check_name(target)
    if not os.path.lexists(path):
        above = path.parent
        while not os.path.lexists(above) and above != above.parent:
            above = above.parent
        if not above.is_dir():
            return Found(path, "blocked", f"{above} is a file, not a folder")
        return Found(path, "missing")
    return _inspect_folder(path, kind) if kind.folder else _inspect_file(path, kind)


def refusal(found: Found, kind: Kind) -> TargetRefused:
    path, place = found.path, "folder" if kind.folder else "file name"
    if found.state == "blocked":
        return TargetRefused(
            f"cannot write {path}: {found.detail}", "choose a path inside a folder", path, folder=kind.folder
        )
    if found.state == "own":
        detail = f" ({found.detail})" if found.detail else ""
        return TargetRefused(
            f"{path} already exists: an earlier TuneDeck {kind.noun}{detail}",
            f"choose another {place}, or confirm that it may be replaced",
            path,
            replaceable=True,
            folder=kind.folder,
        )
    if "changed since" in found.detail:
        hint = "choose another folder (replacing this one would lose those changes)"
        what = f" and {found.detail}"
    elif kind.folder and found.detail.startswith("holds"):
        hint = "choose a new or empty folder, or move those files out of it first"
        what = f" and {found.detail}; TuneDeck writes {_a(kind.noun)} only into a new or empty folder"
    elif kind.folder:
        hint, what = "choose a new folder", f" and {found.detail}"
    elif found.detail.startswith("is"):
        hint, what = "give the path of a file", f" and {found.detail}"
    else:
        hint, what = f"choose another {place}, or move that file away first", f" ({found.detail})"
    return TargetRefused(f"{path} already exists{what}", hint, path, folder=kind.folder)


def claim(target: str | Path, kind: Kind, overwrite: bool = False) -> Found:
    """Check ``target`` may be written as ``kind`` now (before a long job);
    raises ``TargetRefused`` when not. Returns what is there."""
    found = inspect(target, kind)
    if found.state in ("missing", "empty") or (found.state == "own" and overwrite):
        return found
    raise refusal(found, kind)


def _replace_now(target: Path, kind: Kind, overwrite: bool):
    """Asked at the moment of the rename: the target may have changed
    while the new content was being written."""

    def decide() -> bool:
        found = claim(target, kind, overwrite)
        # "empty" may still hold Finder's .DS_Store, which a rename cannot replace.
        return found.state == "own" or (found.state == "empty" and target.is_dir() and any(target.iterdir()))

    return decide


def _refuse_if_taken(exc: OSError, target: Path, kind: Kind) -> None:
    if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
        found = inspect(target, kind)
        if found.state not in ("missing", "empty"):
            raise refusal(found, kind) from exc


# -- writing ---------------------------------------------------------------------
@contextlib.contextmanager
def write_folder(
    target: str | Path, kind: Kind, overwrite: bool = False, marker: dict | None = None
) -> Iterator[Draft]:
    """Yield a ``Draft`` whose ``path`` is a temporary folder to fill; on
    success its marker is written and it is renamed to ``target`` under the
    rule above. A failure or a cancel leaves no folder and the target as it was."""
    target = Path(check_name(target))
    claim(target, kind, overwrite)
    try:
        with atomic_dir(target, replace=_replace_now(target, kind, overwrite)) as tmp:
            draft = Draft(tmp, {"kind": kind.name, **(marker or {})})
            yield draft
            draft.marker["kind"] = kind.name
            draft.marker.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
            draft.marker["files"] = _listing(tmp, kind)
            (tmp / kind.marker).write_text(
                json.dumps(draft.marker, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )
    except OSError as exc:
        _refuse_if_taken(exc, target, kind)  # something appeared there in the meantime
        raise


@contextlib.contextmanager
def file_draft(target: str | Path, kind: Kind, overwrite: bool = False, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path to write; on success it becomes ``target``
    under the rule above (``suffix``: an extension the writer insists on)."""
    target = Path(check_name(target))
    claim(target, kind, overwrite)
    try:
        with atomic_path(target, suffix=suffix, replace=_replace_now(target, kind, overwrite)) as tmp:
            yield tmp
    except OSError as exc:
        _refuse_if_taken(exc, target, kind)  # something appeared there in the meantime
        raise


def write_file(target: str | Path, kind: Kind, text: str, overwrite: bool = False) -> Path:
    with file_draft(target, kind, overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target).expanduser()
