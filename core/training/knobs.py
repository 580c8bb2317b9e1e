"""What a training knob says about itself, in one place: the metadata of a
``TrainSettings`` field (as mlx-lm's ``TrainingArgs`` keeps its help in
``field(metadata=...)``). The YAML type table, the value checks, the CLI's
flags and the Train screen's form are all read from it, so a knob is added
by adding one field.
"""

from __future__ import annotations

import functools
import math
import types
import typing
from dataclasses import MISSING, dataclass, field, fields, replace


@dataclass(frozen=True)
class FormPlace:
    """Where the Train screen's Config tab shows a knob: ``group`` "grid"
    (a label and an input, or a select for a knob with choices) or
    "switches" (a checkbox); ``order`` is its slot there, left to right, top
    to bottom (the screen's own widgets have slots too, see its compose)."""

    id: str
    label: str
    order: int
    group: str = "grid"


@dataclass(frozen=True)
class Knob:
    """One setting: its help, its type (from the field's annotation unless
    given) and the rule its value must meet.

    The rule: one of ``choices``, or a number from ``low`` to ``high`` (each
    may be open), finite if ``finite``; ``all_value`` (-1 = all) is allowed
    besides. Messages read "<label> must be <rule> (got <value>)"; ``rule``
    and ``hint`` override the wording made from the bounds."""

    help: str
    kind: type | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    finite: bool = False
    all_value: int | None = None
    choices: tuple = ()
    label: str = ""
    rule: str = ""
    hint: str = ""
    cli: bool = False  # a flag named after the key: --num-layers, --rank
    form: FormPlace | None = None
    nested: dict[str, Knob] = field(default_factory=dict)  # keys of a dict knob (lora_parameters)
    path: tuple[str, ...] = ()  # filled in by knobs_of: ("lora_parameters", "rank")
    default: object = None  # filled in by knobs_of: what a dict knob's missing key means

    @property
    def key(self) -> str:
        """The dotted key, as a ``file:line`` map names it."""
        return ".".join(self.path)

    @property
    def flag(self) -> str:
        return "--" + self.path[-1].replace("_", "-")

    def get(self, settings):
        value = getattr(settings, self.path[0])
        return value.get(self.path[1], self.default) if len(self.path) > 1 else value

    def set(self, settings, value) -> None:
        """Set on ``settings``; a nested dict is replaced, never changed in place
        (a deep copy's dict may still be shared with the defaults)."""
        if len(self.path) > 1:
            setattr(settings, self.path[0], {**getattr(settings, self.path[0]), self.path[1]: value})
        else:
            setattr(settings, self.path[0], value)

    def problem(self, value) -> tuple[str, str] | None:
        """(message, hint) when ``value`` breaks the rule, else None."""
        label = self.label or self.key
        if self.choices:
            if value in self.choices:
                return None
            return f"unknown {label} {short(value)}", self.hint or f"use one of {', '.join(self.choices)}"
        if self.low is None and self.high is None and not self.finite:
            return None
        if self.all_value is not None and value == self.all_value and type_ok(value, self.kind):
            return None
        if _within(self, value):
            return None
        fix = f"set {label} to {_num(self.low)} or more" if self.low is not None else "fix the value"
        return f"{label} must be {self.rule or _rule(self)} (got {value!r})", self.hint or fix


def knob(default=MISSING, *, default_factory=MISSING, **spec):
    """A dataclass field that carries its ``Knob``."""
    return field(default=default, default_factory=default_factory, metadata={"knob": Knob(**spec)})


@functools.cache  # asked at every keystroke in the Config tab
def knobs_of(cls) -> tuple[Knob, ...]:
    """Every knob of a settings dataclass, nested ones (``lora_parameters``'s
    keys) right after their dict, in field order; each with its type and path."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in fields(cls):
        k = f.metadata.get("knob")
        if k is None:
            continue
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        default = None if default is MISSING else default
        out.append(replace(k, kind=k.kind or _plain(hints[f.name]), path=(f.name,), default=default))
        for name, sub in k.nested.items():
            out.append(replace(sub, path=(f.name, name), default=(default or {}).get(name)))
    return tuple(out)


def short(value, width: int = 60) -> str:
    """A value as a message quotes it: its repr, cut to ``width``."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def type_ok(value, expected) -> bool:
    if expected is bool:
        return isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected in (str, dict, list):
        return isinstance(value, expected)
    return True


def _plain(hint) -> type:
    """``dict | None`` -> dict, ``list[str]`` -> list: None is always allowed
    (it means "the default")."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and args:
        hint = args[0]
    return typing.get_origin(hint) or hint


def _within(k: Knob, value) -> bool:
    if not type_ok(value, k.kind) or (k.kind is float and k.finite and not math.isfinite(value)):
        return False
    if k.low is not None and not (value > k.low if k.low_open else value >= k.low):
        return False
    return k.high is None or (value < k.high if k.high_open else value <= k.high)


def _rule(k: Knob) -> str:
    if k.low is not None and k.high is not None:
        span = f"from {_num(k.low)} to {_num(k.high)}"
        return f"a whole number {span}" if k.kind is int else span
    if k.low is not None:
        return f"at least {_num(k.low)}"
    return "a number"


def _num(x) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"
