"""The user's keymap: binding id -> keys, from the ``keymap`` section of the
app config file. Every entry is checked against the bindings the screens
declare; a bad one is skipped with a message that names it (the rest apply),
so a typo in the config never stops the app or silently eats a key."""

from __future__ import annotations

import importlib
import pkgutil
import re
import unicodedata
from dataclasses import dataclass

from textual.binding import Binding
from textual.dom import DOMNode
from textual.keys import Keys, key_to_character
from textual.screen import Screen

MODIFIERS = {"ctrl", "shift", "alt", "meta", "super", "hyper"}
_NAMED_KEYS = {key.value for key in Keys if "+" not in key.value and "-" not in key.value} | {"slash"}


@dataclass(frozen=True)
class Bound:
    """One binding as a screen's class declares it."""

    id: str | None
    keys: tuple[str, ...]
    description: str


def normalize_key(key: str) -> str:
    """The long form Textual matches on: "?" -> "question_mark", "/" -> "slash"."""
    *mods, last = key.strip().split("+")
    if len(last) == 1 and not last.isalnum():
        last = "slash" if last == "/" else unicodedata.name(last, last).lower().replace("-", "_").replace(" ", "_")
    return "+".join([*mods, last])


def is_known_key(key: str) -> bool:
    *mods, last = key.split("+")
    if not last or any(m not in MODIFIERS for m in mods):
        return False
    return (len(last) == 1 and last.isprintable()) or last in _NAMED_KEYS or key_to_character(last) is not None


def _bindings_of(klass: type) -> list[Bound]:
    found = []
    for binding in vars(klass).get("BINDINGS", ()):
        if not isinstance(binding, Binding):
            binding = Binding(*binding)
        keys = tuple(normalize_key(k) for k in binding.key.split(","))
        found.append(Bound(binding.id, keys, binding.description or binding.action))
    return found


def _chain(klass: type) -> list[Bound]:
    """The bindings a class has with its ancestors' (Textual's own too)."""
    return [b for base in klass.__mro__ if issubclass(base, DOMNode) for b in _bindings_of(base)]


# Screens named as the walkthrough names them (README, step bar).
_NAMES = {
    "DatasetScreen": "Data screen",
    "TrainingScreen": "Train screen",
    "ResultsScreen": "Judge & ship screen",
    "LMStudioFolderDialog": "LM Studio folder dialog",
}


def _label(klass: type) -> str:
    """ "ModelPicker" -> "Model picker"."""
    if klass.__name__ in _NAMES:
        return _NAMES[klass.__name__]
    first, *rest = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", klass.__name__).split()
    return " ".join([first, *(w if w.isupper() else w.lower() for w in rest)])


def scopes() -> dict[str, list[Bound]]:
    """Every screen of TuneDeck -> the bindings that can meet on it: the app's,
    the screen's, and those of the TuneDeck widgets its module composes."""
    from tui.app import TuneDeckApp  # here: tui.app imports this module

    app_bindings = _chain(TuneDeckApp)
    found: dict[str, list[Bound]] = {}
    for package in ("tui.screens", "tui.widgets"):
        for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
            module = importlib.import_module(f"{package}.{info.name}")
            widgets = [
                obj
                for obj in vars(module).values()
                if isinstance(obj, type)
                and issubclass(obj, DOMNode)
                and not issubclass(obj, Screen)
                and obj.__module__.startswith("tui.")
            ]
            for obj in vars(module).values():
                if isinstance(obj, type) and issubclass(obj, Screen) and obj.__module__ == module.__name__:
                    extra = [b for w in widgets for b in _bindings_of(w)]
                    found[_label(obj)] = app_bindings + _chain(obj) + extra
    return found


def binding_table() -> list[tuple[Bound, str]]:
    """Every binding id TuneDeck declares, once, in a stable order, with the
    screens it works on."""
    shown = {name: bindings for name, bindings in scopes().items() if name not in ("Step screen", "Choice screen")}
    steps = [name for name in shown if name.endswith(" screen")]
    seen: dict[str, Bound] = {}
    where: dict[str, list[str]] = {}
    for name, bindings in shown.items():
        for b in bindings:
            if b.id:
                seen.setdefault(b.id, b)
                if name not in where.setdefault(b.id, []):
                    where[b.id].append(name)
    rows = []
    for binding_id in sorted(seen):
        names = where[binding_id]
        if len(names) == len(shown):
            place = "everywhere"
        elif set(steps) <= set(names):
            place = "every step"
        else:
            place = ", ".join(sorted(names))
        rows.append((seen[binding_id], place))
    return rows


def well_formed(raw: object) -> dict[str, str]:
    """The entries Textual can take as they are (ids and keys as strings),
    before ``check`` has looked at what they rebind."""
    if not isinstance(raw, dict):
        return {}
    return {k: v for k, v in raw.items() if isinstance(k, str) and isinstance(v, str) and v.strip(" ,")}


def check(raw: object, where: str) -> tuple[dict[str, str], list[str]]:
    """(the entries that can apply, one message per entry that cannot)."""
    if raw in (None, {}):
        return {}, []
    fix = f"Fix it in {where} (the README lists the binding ids)."
    if not isinstance(raw, dict):
        return {}, [f'The keymap must map binding ids to keys, e.g. {{"next-step": "ctrl+n"}}. {fix}']
    all_scopes = scopes()
    ids = {b.id for bindings in all_scopes.values() for b in bindings if b.id}
    problems: list[str] = []
    keymap: dict[str, tuple[str, ...]] = {}
    for binding_id, keys in raw.items():
        entry = f"Keymap entry {binding_id!r}"
        if binding_id not in ids:
            problems.append(f"{entry}: no binding has this id. {fix}")
        elif not isinstance(keys, str) or not keys.strip(" ,"):
            problems.append(f'{entry}: give its keys as a string, e.g. "ctrl+n" or "ctrl+n,f9". {fix}')
        elif bad := [k for k in (normalize_key(k) for k in keys.split(",")) if not is_known_key(k)]:
            problems.append(f'{entry}: {bad[0]!r} is not a key Textual knows (e.g. "ctrl+n", "f9"). {fix}')
        else:
            keymap[binding_id] = tuple(normalize_key(k) for k in keys.split(","))
    # A key may mean one thing per screen. Dropping a clashing entry gives its
    # binding back its own key, which may clash in turn: repeat until none do.
    while clashes := _clashes(all_scopes, keymap):
        for binding_id, message in clashes.items():
            keymap.pop(binding_id, None)
            problems.append(f"Keymap entry {binding_id!r}: {message}; pick another key. {fix}")
    return {binding_id: ",".join(keys) for binding_id, keys in keymap.items()}, problems


def _clashes(all_scopes: dict[str, list[Bound]], keymap: dict[str, tuple[str, ...]]) -> dict[str, str]:
    clashes: dict[str, str] = {}
    for screen, bindings in all_scopes.items():
        holders: dict[str, list[Bound]] = {}
        for b in {(b.id, b.keys): b for b in bindings}.values():  # the same binding inherited twice is one
            for key in keymap.get(b.id, b.keys):
                holders.setdefault(key, []).append(b)
        for key, held in holders.items():
            rebound = [b for b in held if b.id in keymap]
            if len({b.id or b.description for b in held}) < 2 or not rebound:
                continue  # alone on its key, or a clash TuneDeck ships with (none do)
            for b in rebound:
                other = next(o for o in held if o.id != b.id)
                what = f"{other.description!r}" + (f" ({other.id})" if other.id else "")
                clashes.setdefault(b.id, f"{key!r} is also {what} on the {screen}")
    return clashes
