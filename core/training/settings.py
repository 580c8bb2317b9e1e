"""Training configs: YAML that ``mlx_lm.lora -c`` also accepts, presets,
and defaults sized to the chosen model and this machine's memory.

The YAML keys are mlx-lm's own (``model``, ``data``, ``fine_tune_type``,
``lora_parameters: {rank, scale, dropout}``, ``lr_schedule``, ...), so one
file drives both ``tunedeck train -c`` and ``mlx_lm.lora -c``. Unknown keys
and wrong types are refused with ``file:line`` (mlx-lm would silently
ignore a misspelt key and train with its default).
"""

from __future__ import annotations

import difflib
import json
import math
import re
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from core.models.demo_model import is_demo_model
from core.runtime.errors import TuneDeckError
from core.runtime.memory import ROOMY_WEIGHTS_SHARE, SNUG_WEIGHTS_SHARE, UNKNOWN_MEMORY_BYTES, total_memory
from core.runtime.targets import CONFIG_YAML, write_file
from core.training.knobs import FormPlace, Knob, knob, knobs_of, short, type_ok

# Imported where used, not at module level (import cost, 2 cores): mlx (runs on the worker), mlx_lm ~3 s, yaml ~0.05 s

OPTIMIZERS = ("adam", "adamw", "muon", "sgd", "adafactor")


SEED_LIMIT = 2**32  # numpy's seed range (mlx-lm seeds numpy with it)
FINE_TUNE_TYPES = ("lora", "dora", "full")


@dataclass
class TrainSettings:
    """The subset of ``mlx_lm.lora`` options TuneDeck drives; same key names,
    so the saved ``adapter_config.json`` / YAML is valid for mlx-lm too.

    Each field's ``knob`` is the one declaration of that setting: its help,
    its rule, its CLI flag and its place on the Train screen's form
    (``core/training/knobs.py``). Form slots 0 and 2 are the screen's own
    preset and schedule selects."""

    model: str = knob(help="base model: a folder or a Hugging Face id", cli=True)
    data: str = knob(help="data folder with train.jsonl and valid.jsonl", cli=True)
    adapter_path: str = knob("", help="where the adapter goes (default: RUN_DIR/adapters)", cli=True)
    fine_tune_type: str = knob(
        "lora",
        help="lora, dora or full",
        choices=FINE_TUNE_TYPES,
        label="fine-tune type",
        hint="use lora, dora or full",
        cli=True,
        form=FormPlace("type", "type", 1),
    )
    num_layers: int = knob(
        16,
        help="layers to fine-tune, from the top (-1 or all: every layer)",
        low=1,
        all_value=-1,
        rule="-1 (all) or at least 1",
        hint="use -1 or a layer count",
        cli=True,
        form=FormPlace("layers", "layers", 4),
    )
    batch_size: int = knob(4, help="examples per step", low=1, cli=True, form=FormPlace("batch", "batch", 6))
    iters: int = knob(
        100, help="training steps (a resumed run: its new total)", low=1, cli=True, form=FormPlace("iters", "iters", 7)
    )
    learning_rate: float = knob(
        1e-5,
        help="the optimizer's learning rate",
        low=0,
        low_open=True,
        finite=True,
        label="learning rate",
        rule="a positive number",
        hint="try 1e-5 for real models, 1e-3 for the demo model",
        cli=True,
        form=FormPlace("lr", "lr", 5),
    )
    lora_parameters: dict = knob(
        default_factory=lambda: {"rank": 8, "scale": 20.0, "dropout": 0.0},
        help="LoRA rank, scale (mlx-lm's alpha) and dropout; keys: the layers to adapt",
        nested={
            "rank": Knob(
                "LoRA rank",
                kind=int,
                low=1,
                label="lora rank",
                rule="a whole number >= 1",
                hint="try 8 or 16",
                cli=True,
                form=FormPlace("rank", "rank", 3),
            ),
            "scale": Knob(
                "LoRA scale",
                kind=float,
                finite=True,
                label="lora scale",
                hint="try 20.0 (mlx-lm's default)",
                cli=True,
            ),
            "dropout": Knob(
                "LoRA dropout",
                kind=float,
                low=0,
                high=1,
                high_open=True,
                label="lora dropout",
                rule="in [0, 1)",
                hint="try 0.0 or 0.05",
                cli=True,
            ),
        },
    )
    max_seq_length: int = knob(
        2048, help="longest example in tokens", low=1, cli=True, form=FormPlace("maxlen", "max len", 8)
    )
    mask_prompt: bool = knob(
        False, help="train on the answers only", cli=True, form=FormPlace("mask", "mask prompt", 0, "switches")
    )
    steps_per_report: int = knob(
        10, help="steps between loss reports", low=1, cli=True, form=FormPlace("reportsteps", "report every", 12)
    )
    steps_per_eval: int = knob(
        200, help="steps between validations", low=1, cli=True, form=FormPlace("evalsteps", "eval every", 10)
    )
    # 0 batches would make the validation loss 0/0 (NaN), which reads as divergence.
    val_batches: int = knob(
        25,
        help="validation batches (-1 or all: the whole validation set)",
        low=1,
        all_value=-1,
        rule="-1 (the whole validation set) or at least 1",
        hint="set val_batches to -1, or a batch count such as 25",
        cli=True,
    )
    save_every: int = knob(
        100, help="steps between checkpoints", low=1, cli=True, form=FormPlace("savesteps", "save every", 11)
    )
    # A run killed outright (SIGKILL, power loss) loses at most this much wall time, however slow its steps.
    save_minutes: float = knob(
        5.0,
        help="minutes of training between checkpoints besides save_every (0: off)",
        low=0,
        finite=True,
        label="save minutes",
        hint="try 5 (0 saves only every save_every steps)",
        cli=True,
        form=FormPlace("saveminutes", "save mins", 14),
    )
    seed: int = knob(
        0,
        help="random seed",
        low=0,
        high=SEED_LIMIT - 1,
        hint="try 0",
        cli=True,
        form=FormPlace("seed", "seed", 13),
    )
    grad_checkpoint: bool = knob(
        False,
        help="recompute activations to save memory",
        cli=True,
        form=FormPlace("gradckpt", "grad checkpoint", 1, "switches"),
    )
    grad_accumulation_steps: int = knob(
        1, help="batches per optimizer step", low=1, cli=True, form=FormPlace("accum", "grad acc", 9)
    )
    optimizer: str = knob(
        "adam", help=f"the optimizer: {', '.join(OPTIMIZERS)}", choices=OPTIMIZERS, label="optimizer", cli=True
    )
    # mlx-lm's format: {name, arguments, warmup, warmup_init}; the CLI and the form offer schedule_for's kinds
    lr_schedule: dict | None = knob(None, help="learning-rate schedule, as mlx-lm writes it")
    optimizer_config: dict = knob(default_factory=dict, help="extra arguments per optimizer: {name: {kwarg: value}}")
    # TuneDeck's batcher (core/training/batching.py); False = mlx-lm's own
    group_by_length: bool = knob(True, help="batch examples of similar length together")

    @classmethod
    def knobs(cls) -> tuple[Knob, ...]:
        return knobs_of(cls)

    @classmethod
    def from_dict(cls, data: dict) -> TrainSettings:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def mlx_lm_config(self) -> dict:
        """Keys as ``mlx_lm.lora -c`` and ``load_adapters`` expect them."""
        cfg = asdict(self)
        cfg["train"] = True
        cfg["optimizer_config"] = {self.optimizer: {}, **self.optimizer_config}
        return cfg


def demo_settings(model: str, data: str, adapter_path: str, **overrides) -> TrainSettings:
    """Settings that show the demo model learning in well under a minute."""
    base = dict(
        model=model,
        data=data,
        adapter_path=adapter_path,
        num_layers=-1,
        batch_size=4,
        iters=100,
        learning_rate=1e-3,
        steps_per_report=5,
        steps_per_eval=25,
        val_batches=5,
        save_every=50,
        lora_parameters={"rank": 32, "scale": 20.0, "dropout": 0.0},
    )
    base.update(overrides)
    return TrainSettings(**base)


def optimizer_class(name: str):
    import mlx.optimizers as optim

    return {
        "adam": optim.Adam,
        "adamw": optim.AdamW,
        "muon": optim.Muon,
        "sgd": optim.SGD,
        "adafactor": optim.Adafactor,
    }[name]


def build_optimizer(s: TrainSettings):
    from mlx_lm.tuner.utils import build_schedule

    lr = build_schedule(s.lr_schedule) if s.lr_schedule else s.learning_rate
    return optimizer_class(s.optimizer)(learning_rate=lr, **s.optimizer_config.get(s.optimizer, {}))


# mlx-lm keys that do not change how TuneDeck trains: accepted, not used.
IGNORED_KEYS = {
    "train",
    "test",
    "test_batches",
    "config",
    "report_to",
    "project_name",
    "trust_remote_code",
    "clear_cache_threshold",
}
SCHEDULES = ("constant", "cosine", "linear")
PRESETS = ("quick", "thorough")


MAX_CONFIG_BYTES = 64 * 1024  # a config is a few hundred bytes; PyYAML (pure Python) is slow
MAX_YAML_DEPTH = 20
MAX_YAML_NODES = 5_000  # mlx-lm's own example config has about 60
SCHEDULE_KEYS = {"name", "arguments", "warmup", "warmup_init"}


def _loader():
    import yaml

    class Refused(yaml.MarkedYAMLError):
        def __init__(self, problem, mark, hint):
            super().__init__(problem=problem, problem_mark=mark)
            self.hint = hint

    class Loader(yaml.SafeLoader):
        """mlx-lm's float resolver; no anchors or aliases (``&a`` / ``*a`` let
        389 bytes expand to gigabytes, a "YAML bomb"; a config never needs
        them), and a bounded depth and node count, so that parsing (pure
        Python, about 50 kB/s on a large list) stays well under a second."""

        _depth = 0
        _nodes = 0

        def compose_node(self, parent, index):
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise Refused(
                    "anchors and aliases (&name, *name) are not allowed in a training config",
                    event.start_mark,
                    "write each value out in full",
                )
            self._nodes += 1
            if self._nodes > MAX_YAML_NODES:
                raise Refused(
                    f"more than {MAX_YAML_NODES:,} values: far too many for a training config",
                    event.start_mark,
                    "point at the YAML config, not a data file",
                )
            self._depth += 1
            try:
                if self._depth > MAX_YAML_DEPTH:
                    raise Refused(
                        f"nested more than {MAX_YAML_DEPTH} levels deep",
                        event.start_mark,
                        "a training config is a flat list of key: value lines (see docs/training.md)",
                    )
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

    # PyYAML reads ``1e-5`` (no dot) as a string; mlx-lm adds this same
    # resolver to its loader, so both read a config identically.
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(
            r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                      |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                      |\.[0-9_]+(?:[eE][-+][0-9]+)?
                      |[-+]?\.(?:inf|Inf|INF)
                      |\.(?:nan|NaN|NAN))$""",
            re.X,
        ),
        list("-+0123456789."),
    )
    return Loader


def _read_text(path: Path) -> str:
    """The file as text, refused before parsing when it is not a config."""
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise TuneDeckError(f"{path} is not a file", "give the path of a YAML training config")
        if size > MAX_CONFIG_BYTES:
            raise TuneDeckError(
                f"{path} is {size / 2**20:.1f} MB: far too large for a training config "
                f"(the limit is {MAX_CONFIG_BYTES // 1024} KB)",
                "point at the YAML config (a few lines of key: value), not a data or model file",
            )
        raw = path.read_bytes()[: MAX_CONFIG_BYTES + 1]  # it may have grown since stat
    except OSError as exc:
        raise TuneDeckError(f"cannot read config {path}: {exc.strerror or exc}", "check the path") from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise TuneDeckError(
            f"not UTF-8: byte 0x{raw[exc.start]:02x} at byte {exc.start} (line {line}, column {column})",
            "re-save the config as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
            where=f"{path}:{line}",
        ) from exc


def _key_lines(node, path: Path) -> dict[str, int]:
    """Line of every mapping key, by dotted path (``optimizer_config.adamw.betas``);
    a key written twice is refused (YAML would silently keep the last)."""
    import yaml

    lines: dict[str, int] = {}
    stack = [(node, "")]
    while stack:
        current, prefix = stack.pop()
        if isinstance(current, yaml.SequenceNode):
            stack.extend((item, prefix) for item in current.value)
        if not isinstance(current, yaml.MappingNode):
            continue
        seen: dict[str, int] = {}
        for key, value in current.value:
            name = str(key.value)
            line = key.start_mark.line + 1
            if name in seen:
                raise TuneDeckError(
                    f"duplicate key {name!r} (lines {seen[name]} and {line})",
                    "keep one of them: YAML would silently use the last",
                    where=f"{path}:{line}",
                )
            seen[name] = line
            dotted = f"{prefix}.{name}" if prefix else name
            lines[dotted] = line
            stack.append((value, dotted))
    return lines


def load_yaml(path: str | Path, deep: bool = False) -> dict:
    """Read a config file into ``TrainSettings`` keys; raise with file:line.
    ``deep`` also builds the optimizer and schedule with mlx (worker thread only)."""
    import yaml

    path = Path(path)
    text = _read_text(path)
    loader = None
    try:
        loader = _loader()(text)  # refuses NUL and other unprintable characters at once
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:  # noqa: SIM108 (each branch has its own reason)
            line = mark.line + 1
        else:  # a ReaderError gives the character's position in the text
            line = text.count("\n", 0, getattr(exc, "position", 0)) + 1
        what = getattr(exc, "problem", None) or str(exc)
        hint = getattr(exc, "hint", "fix the line (YAML indents with spaces, not tabs)")
        char = getattr(exc, "character", None)
        if char is not None:
            char = chr(char) if isinstance(char, int) else char
            what, hint = (
                f"the character {char!r} (U+{ord(char):04X}) is not allowed",
                "remove it: a config is plain text",
            )
        raise TuneDeckError(f"not valid YAML ({what})", hint, where=f"{path}:{line}") from exc
    except ValueError as exc:  # Python refuses integers of more than 4300 digits
        raise TuneDeckError("a number of more than 4300 digits", "write a sensible number", where=str(path)) from exc
    finally:
        if loader is not None:
            loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise TuneDeckError("a config must be a mapping of keys to values", "see docs/training.md", where=f"{path}:1")
    lines = _key_lines(node, path) if node is not None else {}
    known = {f.name for f in fields(TrainSettings)}
    declared = {k.key: k for k in TrainSettings.knobs()}
    for key, value in data.items():
        where = f"{path}:{lines.get(str(key), 1)}"
        if key == "resume_adapter_file":
            raise TuneDeckError(
                "resume_adapter_file is not used by TuneDeck",
                "remove the key: a run resumes from its own folder (its checkpoints)",
                where=where,
            )
        if key == "trust_remote_code" and value:
            raise TuneDeckError(
                "trust_remote_code: TuneDeck never runs a model's own Python code",
                "use a model that mlx-lm supports natively, or delete this line",
                where=where,
            )
        if key not in known and key not in IGNORED_KEYS:
            close = difflib.get_close_matches(str(key), sorted(known | IGNORED_KEYS), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else "see the keys in docs/training.md"
            raise TuneDeckError(f"unknown key {short(key)}", hint, where=where)
        spec = declared.get(key)
        if spec is not None and value is not None:
            _check_type(spec, value, where)
    out = {k: v for k, v in data.items() if k in known and v is not None}
    for spec in declared.values():
        if spec.kind is float and spec.key in out:  # YAML's 1 for 1.0
            out[spec.key] = float(out[spec.key])
    if "lora_parameters" in out:
        out["lora_parameters"] = {
            **TrainSettings.__dataclass_fields__["lora_parameters"].default_factory(),
            **out["lora_parameters"],
        }
    # Nonsense values (batch_size: 0) are refused here too, while the line is known.
    check_settings(
        TrainSettings.from_dict({"model": "", "data": "", **out}),
        where={k: f"{path}:{n}" for k, n in lines.items()},
        deep=deep,
    )
    return out


def _check_type(spec: Knob, value, where: str) -> None:
    """A YAML value of the declared type; a dict knob's keys and theirs too."""
    if not type_ok(value, spec.kind):
        raise TuneDeckError(
            f"{' '.join(spec.path)} should be {spec.kind.__name__}, not {type(value).__name__} ({short(value)})",
            "fix the value",
            where=where,
        )
    if not spec.nested:
        return
    unknown = set(value) - set(spec.nested) - {"keys"}
    if unknown:
        raise TuneDeckError(
            f"unknown {spec.key} key {short(sorted(map(str, unknown))[0])}",
            f"use {', '.join(spec.nested)} (mlx-lm calls alpha 'scale')",
            where=where,
        )
    keys = value.get("keys")  # mlx-lm's list of the layers to adapt
    if keys is not None and not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
        raise TuneDeckError(
            f"{spec.key} keys should be a list of layer names, not {short(keys)}",
            "e.g. keys: [self_attn.q_proj, self_attn.v_proj], or leave it out",
            where=where,
        )
    for name, sub in spec.nested.items():
        if name in value:
            _check_type(replace(sub, path=(*spec.path, name)), value[name], where)


def dump_yaml(settings: TrainSettings) -> str:
    import yaml

    cfg = settings.mlx_lm_config()
    if not cfg.get("adapter_path"):
        del cfg["adapter_path"]  # mlx-lm: ./adapters; TuneDeck: RUN_DIR/adapters
    return f"{CONFIG_YAML.header}; also runs with `mlx_lm.lora -c <this file>`\n" + yaml.safe_dump(
        cfg, sort_keys=False, default_flow_style=False
    )


def save_yaml(settings: TrainSettings, path: str | Path, overwrite: bool = False) -> Path:
    """Save a config where the user asked: an existing file is replaced only
    if it is a config TuneDeck wrote and ``overwrite`` (``core.runtime.targets``)."""
    return write_file(path, CONFIG_YAML, dump_yaml(settings), overwrite)


def _number(value, low: float | None = None, high: float | None = None, high_open: bool = False) -> bool:
    if not type_ok(value, float) or not math.isfinite(value):
        return False
    if low is not None and value < low:
        return False
    return high is None or (value < high if high_open else value <= high)


def check_settings(s: TrainSettings, where: dict[str, str] | None = None, deep: bool = False) -> None:
    """Value checks that need no model or data (those are in training).
    ``where`` maps a key (dotted for nested ones) to the ``file:line`` it came
    from, for the message; ``deep`` also builds the schedule and optimizer
    with mlx, as training will (worker thread only)."""

    def bad(key, what, fix):
        located = where or {}
        while key not in located and "." in key:
            key = key.rsplit(".", 1)[0]
        raise TuneDeckError(what, fix, where=located.get(key, ""))

    for spec in knobs_of(type(s)):
        problem = spec.problem(spec.get(s))
        if problem:
            bad(spec.key, *problem)
    _check_optimizer_config(s, bad)
    if s.lr_schedule is not None:
        _check_schedule(s.lr_schedule, bad)
    if deep:
        _check_with_mlx(s, bad)


def _check_optimizer_config(s: TrainSettings, bad) -> None:
    """Shapes and ranges that need no mlx; parameter names are checked deep."""
    for name, params in (s.optimizer_config or {}).items():
        key = f"optimizer_config.{name}"
        if name not in OPTIMIZERS:
            bad(
                key,
                f"optimizer_config names an unknown optimizer {short(name)}",
                f"use one of {', '.join(OPTIMIZERS)}",
            )
        if not isinstance(params, dict):
            bad(
                key,
                f"optimizer_config {name} should be a mapping of parameters, not {type(params).__name__}",
                "e.g. optimizer_config: {adamw: {weight_decay: 0.01}}",
            )
        betas = params.get("betas")
        if betas is not None and not (
            isinstance(betas, list) and len(betas) == 2 and all(_number(b, 0, 1, high_open=True) for b in betas)
        ):
            bad(
                f"{key}.betas",
                f"{name} betas must be two numbers in [0, 1) (got {short(betas)})",
                "e.g. betas: [0.9, 0.999]",
            )
        for param, low, high in (("eps", 0, None), ("weight_decay", 0, None), ("momentum", 0, 1)):
            if param in params and not (
                _number(params[param], low, high, high_open=True) and (param != "eps" or params[param] > 0)
            ):
                rule = {
                    "eps": "a small positive number (e.g. 1e-8)",
                    "weight_decay": "a number >= 0 (e.g. 0.01)",
                    "momentum": "a number in [0, 1) (e.g. 0.9)",
                }[param]
                bad(f"{key}.{param}", f"{name} {param} must be {rule} (got {short(params[param])})", "fix the value")


def _check_schedule(sch: dict, bad) -> None:
    example = "e.g. {name: cosine_decay, arguments: [1e-5, 1000, 1e-7], warmup: 100}"
    unknown = set(sch) - SCHEDULE_KEYS
    if unknown:
        bad(
            "lr_schedule",
            f"unknown lr_schedule key {short(sorted(map(str, unknown))[0])}",
            "use name, arguments, warmup and warmup_init",
        )
    if not isinstance(sch.get("name"), str):
        bad("lr_schedule.name", "lr_schedule needs a name (a string)", example)
    args = sch.get("arguments")
    if not (isinstance(args, list) and args and all(_number(a) for a in args)):
        bad("lr_schedule.arguments", f"lr_schedule arguments must be a list of numbers (got {short(args)})", example)
    if args[0] <= 0:
        bad(
            "lr_schedule.arguments",
            f"lr_schedule's first argument is the initial rate: positive (got {args[0]})",
            example,
        )
    warmup = sch.get("warmup", 0)
    if not (type_ok(warmup, int) and warmup >= 0):
        bad(
            "lr_schedule.warmup",
            f"lr_schedule warmup must be a whole number of steps >= 0 (got {short(warmup)})",
            "e.g. warmup: 100, or leave it out",
        )
    if "warmup_init" in sch and not _number(sch["warmup_init"], 0):
        bad(
            "lr_schedule.warmup_init",
            f"lr_schedule warmup_init must be a rate >= 0 (got {short(sch['warmup_init'])})",
            "e.g. warmup_init: 1e-7",
        )


def _check_with_mlx(s: TrainSettings, bad) -> None:
    """Build the schedule and the optimizer exactly as training will, so a
    wrong argument count or parameter name is said before the model loads."""
    import inspect

    import mlx.core as mx
    import mlx.optimizers as optim

    if s.lr_schedule is not None:
        sch = s.lr_schedule
        fn = getattr(optim.schedulers, sch["name"], None)
        if not callable(fn) or sch["name"].startswith("_") or sch["name"] == "join_schedules":
            bad(
                "lr_schedule.name",
                f"unknown lr_schedule {sch['name']!r}",
                "use cosine_decay, linear_schedule, step_decay or exponential_decay",
            )
        try:
            inspect.signature(fn).bind(*sch["arguments"])
        except TypeError:
            params = ", ".join(inspect.signature(fn).parameters)
            bad(
                "lr_schedule.arguments",
                f"{sch['name']} takes ({params}), not {len(sch['arguments'])} argument(s)",
                f"write arguments: [{params}] (those with defaults may be left out)",
            )
        from mlx_lm.tuner.utils import build_schedule

        try:
            schedule = build_schedule(sch)
            rates = [float(schedule(mx.array(step))) for step in (0, sch.get("warmup", 0), s.iters)]
        except Exception as exc:  # noqa: BLE001 -- whatever mlx says, with the key
            bad("lr_schedule", f"lr_schedule {sch['name']} cannot be built: {exc}", "fix its arguments")
        if not all(math.isfinite(r) and r >= 0 for r in rates):
            bad(
                "lr_schedule.arguments",
                f"lr_schedule {sch['name']} gives the rates {rates} "
                "(at the start, the end of warm-up and the last step)",
                "every rate must be a number >= 0",
            )

    cls = optimizer_class(s.optimizer)
    params = s.optimizer_config.get(s.optimizer, {})
    try:
        inspect.signature(cls).bind(learning_rate=s.learning_rate, **params)
    except TypeError:
        takes = ", ".join(p for p in inspect.signature(cls).parameters if p != "learning_rate")
        bad(
            f"optimizer_config.{s.optimizer}",
            f"{s.optimizer} takes {takes}; not "
            f"{', '.join(sorted(set(params) - set(inspect.signature(cls).parameters)))}",
            "fix the parameter names",
        )
    try:
        build_optimizer(s)
    except (TypeError, ValueError) as exc:
        bad(f"optimizer_config.{s.optimizer}", f"{s.optimizer} refuses its optimizer_config: {exc}", "fix the values")


# -- schedules as the form offers them ---------------------------------------
def schedule_for(kind: str, learning_rate: float, iters: int) -> dict | None:
    """mlx-lm ``lr_schedule`` dicts for the form's three choices."""
    warmup = min(100, max(iters // 10, 0))
    if kind == "constant":
        return None
    if kind == "cosine":
        return {
            "name": "cosine_decay",
            "arguments": [learning_rate, max(iters - warmup, 1), learning_rate / 10],
            "warmup": warmup,
            "warmup_init": learning_rate / 10,
        }
    if kind == "linear":
        return {
            "name": "linear_schedule",
            "arguments": [learning_rate, learning_rate / 10, max(iters - warmup, 1)],
            "warmup": warmup,
            "warmup_init": learning_rate / 10,
        }
    raise TuneDeckError(f"unknown schedule {kind!r}", f"use one of {', '.join(SCHEDULES)}")


def schedule_kind(s: TrainSettings) -> str:
    if not s.lr_schedule:
        return "constant"
    return {"cosine_decay": "cosine", "linear_schedule": "linear"}.get(s.lr_schedule.get("name"), "custom")


# -- defaults and presets ------------------------------------------------------
def model_facts(model: str) -> dict:
    """Layer count, weight bytes and quantization, read from the folder."""
    folder = Path(model)
    try:
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cfg = {}
    size = sum(p.stat().st_size for p in folder.glob("*.safetensors")) if folder.is_dir() else 0
    return {
        "layers": cfg.get("num_hidden_layers") or cfg.get("n_layer") or 0,
        "bytes": size,
        "quantized": bool(cfg.get("quantization") or cfg.get("quantization_config")),
    }


def default_settings(model: str, data: str, adapter_path: str, memory_bytes: int | None = None) -> TrainSettings:
    """Settings sized to the model and the memory: the demo keeps its fast
    demo settings; a real model gets batch/layers that leave room for
    activations (weights are a small share of memory: larger batches)."""
    if is_demo_model(model):
        return demo_settings(model, data, adapter_path)
    facts = model_facts(model)
    memory = memory_bytes or total_memory() or UNKNOWN_MEMORY_BYTES
    share = facts["bytes"] / memory if facts["bytes"] else 0.1
    s = TrainSettings(model=model, data=data, adapter_path=adapter_path, iters=1000, learning_rate=1e-5)
    if share < ROOMY_WEIGHTS_SHARE:
        s.batch_size, s.num_layers = 4, 16
    elif share < SNUG_WEIGHTS_SHARE:
        s.batch_size, s.num_layers = 2, 8
    else:  # the seed recipe for a tight fit: batch 1, 4 layers, checkpointing
        s.batch_size, s.num_layers, s.grad_checkpoint, s.max_seq_length = 1, 4, True, 1024
    if facts["layers"]:
        s.num_layers = min(s.num_layers, facts["layers"])
    if facts["quantized"]:  # QLoRA: a quantized base tolerates (and needs) a higher rate
        s.learning_rate = 1e-4
    return s


def apply_preset(s: TrainSettings, name: str) -> TrainSettings:
    """ "quick": a short look at whether it learns; "thorough": longer, more
    capacity, cosine decay with warm-up. Relative to the model's defaults."""
    demo = is_demo_model(s.model)
    if name == "quick":
        s.iters = 60 if demo else 200
        s.lora_parameters = {**s.lora_parameters, "rank": 8}
        s.lr_schedule = None
    elif name == "thorough":
        s.iters = 400 if demo else 2000
        s.lora_parameters = {**s.lora_parameters, "rank": 32 if demo else 16}
        s.lr_schedule = schedule_for("cosine", s.learning_rate, s.iters)
    else:
        raise TuneDeckError(f"unknown preset {name!r}", f"use one of {', '.join(PRESETS)}")
    s.steps_per_eval = max(5, s.iters // 8)
    s.save_every = max(10, s.iters // 4)
    s.steps_per_report = max(1, min(s.steps_per_report, s.iters // 20 or 1))
    return s


def epochs(s: TrainSettings, train_examples: int) -> float:
    return s.iters * s.batch_size / train_examples if train_examples else 0.0
