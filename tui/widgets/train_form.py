"""The training knobs as a form, generated from what each ``TrainSettings``
field declares (``core/training/knobs.py``): a select for a knob with
choices, an input for a number, a checkbox for a switch; the preset and the
schedule; checked as typed; and the YAML file ``mlx_lm.lora -c`` also reads."""

from __future__ import annotations

import copy
import dataclasses
import functools
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Checkbox, Input, Label, Select, Static

from core.data.folder import read_manifest
from core.runtime.errors import TuneDeckError
from core.runtime.targets import CONFIG_YAML
from core.training.settings import (
    PRESETS,
    SCHEDULES,
    TrainSettings,
    apply_preset,
    check_settings,
    epochs,
    load_yaml,
    save_yaml,
    schedule_for,
    schedule_kind,
)
from tui.screens.confirm import write_checked

NO_PAIR = "Choose a model (step 2) and a dataset (step 3) first."
KEYS = (
    "Enter/Esc leaves a knob · ctrl+n/ctrl+p tabs · ctrl+s saves / ctrl+o loads the YAML "
    "(mlx_lm.lora -c reads it too) · m memory check"
)
# The grid's own slots: the preset and the schedule are no single setting.
PRESET_SLOT, SCHEDULE_SLOT = 0, 2


def train_examples(data_dir: str) -> int:
    """From the dataset's manifest, else by counting lines: once per version of
    the file (the epochs line asks at every keystroke)."""
    counts = read_manifest(data_dir).get("counts") or {}
    if counts.get("train"):
        return int(counts["train"])
    path = Path(data_dir) / "train.jsonl"
    try:
        stat = path.stat()
    except OSError:
        return 0
    return _count_lines(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _count_lines(path: str, mtime_ns: int, size: int) -> int:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return sum(1 for line in fh if line.strip())
    except OSError:
        return 0


def form_knobs(group: str) -> list:
    """The knobs the form shows in ``group``, in their order there (each
    knob's ``form`` place, declared with ``TrainSettings``)."""
    return sorted((k for k in TrainSettings.knobs() if k.form and k.form.group == group), key=lambda k: k.form.order)


class TrainForm(Vertical):
    """Set ``pair`` (model, data) to what a run would train; ``fill`` it with
    settings; ``settings()`` reads it back. ``Noted`` carries a line for the
    screen's log."""

    DEFAULT_CSS = """
    TrainForm { height: auto; }
    TrainForm #form { grid-size: 6; grid-columns: 12 12 12 12 12 1fr; grid-rows: 1;
                      grid-gutter: 0 1; height: auto; padding: 0 1; }
    TrainForm #form Label { color: $text-muted; }
    TrainForm #form Input { height: 1; border: none; padding: 0 1; background: $boost; }
    TrainForm #form Input:focus { background: $primary 30%; }
    TrainForm #form Select { height: 1; }
    TrainForm #switches { height: 1; padding: 0 1; }
    TrainForm #switches Checkbox { height: 1; border: none; padding: 0; margin: 0 2 0 0; }
    TrainForm #yaml-row { height: 1; padding: 0 1; }
    TrainForm #yaml-row Label { width: 13; color: $text-muted; }
    TrainForm #yaml { width: 1fr; height: 1; border: none; padding: 0 1; background: $boost; }
    TrainForm #config-info { height: auto; padding: 0 1; color: $text-muted; }
    TrainForm #config-error { height: auto; padding: 0 1; color: $error; text-style: bold; }
    """

    class Noted(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    pair: reactive[tuple[str | None, str | None]] = reactive((None, None), init=False)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.base: TrainSettings | None = None  # keys the form does not show survive a YAML load
        self._filling = False
        self._preset_values: tuple = ()  # the knobs as the chosen preset set them

    def compose(self) -> ComposeResult:
        with Grid(id="form"):
            yield from self._grid()
        with Horizontal(id="switches"):
            for spec in form_knobs("switches"):
                yield Checkbox(spec.form.label, id=spec.form.id, compact=True)
        with Horizontal(id="yaml-row"):
            yield Label("YAML")
            yield Input(id="yaml", placeholder="path/to/config.yaml", compact=True)
        yield Static("", id="config-error")
        yield Static("", id="config-info")

    def _grid(self) -> ComposeResult:
        """Label and widget pairs, three to a row."""
        own = {
            PRESET_SLOT: ("preset", [(p, p) for p in PRESETS] + [("custom", "custom")], "custom"),
            SCHEDULE_SLOT: ("schedule", [(k, k) for k in SCHEDULES] + [("custom", "custom")], "constant"),
        }
        slots = {**own, **{spec.form.order: spec for spec in form_knobs("grid")}}
        for order in sorted(slots):
            item = slots[order]
            if isinstance(item, tuple):
                wid, options, value = item
                yield Label(wid)
                yield Select(options, id=wid, value=value, allow_blank=False, compact=True)
                continue
            yield Label(item.form.label)
            if item.choices:
                options = [(c, c) for c in item.choices]
                yield Select(options, id=item.form.id, value=item.default, allow_blank=False, compact=True)
            else:
                kind = "integer" if item.kind is int else "number"
                yield Input(id=item.form.id, type=kind, compact=True)

    def watch_pair(self) -> None:
        self.show_info()

    def fill(self, s: TrainSettings) -> None:
        self.base = copy.deepcopy(s)
        self._filling = True
        for spec in form_knobs("grid"):
            value = spec.get(s)
            if spec.choices:
                self.query_one(f"#{spec.form.id}", Select).value = value
            else:
                self.query_one(f"#{spec.form.id}", Input).value = f"{value:g}" if spec.kind is float else str(value)
        self.query_one("#schedule", Select).value = schedule_kind(s)
        for spec in form_knobs("switches"):
            self.query_one(f"#{spec.form.id}", Checkbox).value = spec.get(s)
        self.call_after_refresh(self._done_filling)
        self.show_info()

    def _done_filling(self) -> None:
        self._filling = False

    def typed_iters(self) -> str:
        return self.query_one("#iters", Input).value.strip()

    def settings(self) -> tuple[TrainSettings | None, str | None]:
        """The form's settings, or None and what is wrong (``NO_PAIR`` before a model and data)."""
        model, data = self.pair
        if not model or not data or self.base is None:
            return None, NO_PAIR
        s = copy.deepcopy(self.base)
        s.model, s.data, s.adapter_path = model, data, ""
        for spec in form_knobs("grid"):
            if spec.choices:
                spec.set(s, self.query_one(f"#{spec.form.id}", Select).value)
                continue
            text, kind = self.query_one(f"#{spec.form.id}", Input).value.strip(), spec.kind
            try:
                value = kind(text)
            except ValueError:
                what = "is empty" if not text else f"{text!r} is not a {'number' if kind is float else 'whole number'}"
                return None, f"{spec.form.label} {what}: type a value" + (" like 1e-5" if kind is float else "")
            spec.set(s, value)
        for spec in form_knobs("switches"):
            spec.set(s, self.query_one(f"#{spec.form.id}", Checkbox).value)
        # Catch nonsense (rank 0, lr -1, iters 0...) as it is typed, not after
        # a job starts. The schedule is left out: checking a loaded custom one
        # imports mlx, which the UI thread must not do; the job checks it.
        try:
            check_settings(dataclasses.replace(s, lr_schedule=None))
        except TuneDeckError as exc:
            return None, f"{exc.message} ({exc.hint})" if exc.hint else exc.message
        kind = self.query_one("#schedule", Select).value
        if kind != "custom":
            s.lr_schedule = schedule_for(kind, s.learning_rate, s.iters)
        return s, None

    def read(self, quiet: bool = False) -> TrainSettings | None:
        """The settings, or None after saying (unless quiet) what is wrong."""
        s, problem = self.settings()
        if problem and not quiet:
            self.notify(problem, severity="warning" if problem == NO_PAIR else "error")
        return None if problem else s

    def show_info(self) -> None:
        s, problem = self.settings()
        error = self.query_one("#config-error", Static)
        error.update(f"✗ {problem}" if problem and problem != NO_PAIR else "")
        error.display = bool(problem and problem != NO_PAIR)
        info = self.query_one("#config-info", Static)
        if s is None:
            info.update(f"{NO_PAIR}\n{KEYS}" if problem == NO_PAIR else KEYS)
            return
        n = train_examples(s.data)
        layers = "all" if s.num_layers < 0 else s.num_layers
        info.update(
            f"{s.iters} iters x batch {s.batch_size} = {epochs(s, n):.2f} epochs of {n} examples · "
            f"layers {layers} · {Path(s.model).name}\n{KEYS}"
        )

    def knob_values(self) -> tuple:
        grid = [f"#{spec.form.id}" for spec in form_knobs("grid")] + ["#schedule"]
        return tuple(self.query_one(wid).value for wid in grid)

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "yaml" and self.is_mounted:
            self.knob_edited()

    def knob_edited(self) -> None:
        # A knob changed after a preset filled the form: it is no longer that
        # preset. (Compared by value: the form's own fill posts changes too.)
        preset = self.query_one("#preset", Select)
        if preset.value != "custom" and self.knob_values() != self._preset_values:
            preset.value = "custom"
        self.show_info()

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        if event.select.id != "preset":
            if self.is_mounted and not self._filling:
                self.knob_edited()
            return
        if self._filling or event.value == "custom":
            return
        s = self.read()
        if s is not None:
            self.fill(apply_preset(s, event.value))
            self._preset_values = self.knob_values()
            self.query_one("#preset", Select).value = event.value
            self.post_message(
                self.Noted(
                    f"preset {event.value}: {s.iters} iters, rank {s.lora_parameters['rank']}, "
                    f"schedule {schedule_kind(s)}"
                )
            )
        else:
            self.query_one("#preset", Select).value = "custom"  # not applied: say so

    @on(Input.Submitted, "#yaml")
    def _yaml_submitted(self) -> None:
        self.load_config()

    def _yaml_path(self) -> Path | None:
        text = self.query_one("#yaml", Input).value.strip()
        if not text:
            self.notify("Type a YAML path in the Config tab first.", severity="warning")
            return None
        return Path(text).expanduser()

    def save_config(self) -> None:
        s, path = self.read(), self._yaml_path()
        if s is None or path is None:
            return

        def save(overwrite: bool) -> None:
            try:
                save_yaml(s, path, overwrite=overwrite)
            except (TuneDeckError, OSError) as exc:
                self.notify(f"could not save {path}: {exc}", severity="error")
                return
            self.notify(f"saved {path} (runs with `tunedeck train -c` or `mlx_lm.lora -c`)")

        write_checked(self.screen, path, CONFIG_YAML, save)

    def load_config(self) -> None:
        path = self._yaml_path()
        if path is None or self.base is None:
            return
        try:
            loaded = load_yaml(path)
        except TuneDeckError as exc:
            where = f"{exc.where}: " if exc.where else ""
            self.notify(f"{where}{exc.message}\n{exc.hint}", title="config not loaded", severity="error", timeout=12)
            return
        for key, mine in zip(("model", "data"), self.pair):
            if key in loaded and loaded[key] != mine:
                self.notify(
                    f"the config's {key} ({loaded[key]}) differs; training uses the chosen one ({mine})",
                    severity="warning",
                )
        loaded.pop("adapter_path", None)
        self.fill(TrainSettings.from_dict({**vars(self.base), **loaded}))
        self.query_one("#preset", Select).value = "custom"
        self.notify(f"loaded {path}")
