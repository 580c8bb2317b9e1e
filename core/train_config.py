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
from dataclasses import fields
from pathlib import Path

from core.errors import TuneDeckError
from core.memory_estimate import total_memory
from core.targets import CONFIG_YAML, write_file
from core.training import TrainSettings, demo_settings

# mlx-lm keys that do not change how TuneDeck trains: accepted, not used.
IGNORED_KEYS = {"train", "test", "test_batches", "config", "report_to", "project_name",
                "trust_remote_code", "clear_cache_threshold"}
LORA_KEYS = {"rank", "scale", "dropout", "keys"}
LORA_TYPES = {"rank": int, "scale": float, "dropout": float}
SCHEDULES = ("constant", "cosine", "linear")
PRESETS = ("quick", "thorough")


def _loader():
    import yaml

    # PyYAML reads ``1e-5`` (no dot) as a string; mlx-lm adds this same
    # resolver to its loader, so both read a config identically.
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                      |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                      |\.[0-9_]+(?:[eE][-+][0-9]+)?
                      |[-+]?\.(?:inf|Inf|INF)
                      |\.(?:nan|NaN|NAN))$""", re.X),
        list("-+0123456789."))
    return Loader


def _type_ok(value, expected) -> bool:
    if expected is bool:
        return isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is str:
        return isinstance(value, str)
    if expected is dict:
        return isinstance(value, dict)
    return True


_TYPES = {"model": str, "data": str, "adapter_path": str, "fine_tune_type": str, "optimizer": str,
          "num_layers": int, "batch_size": int, "iters": int, "learning_rate": float,
          "lora_parameters": dict, "max_seq_length": int, "mask_prompt": bool,
          "steps_per_report": int, "steps_per_eval": int, "val_batches": int, "save_every": int,
          "seed": int, "grad_checkpoint": bool, "grad_accumulation_steps": int,
          "optimizer_config": dict, "lr_schedule": dict}


def load_yaml(path: str | Path) -> dict:
    """Read a config file into ``TrainSettings`` keys; raise with file:line."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TuneDeckError(f"cannot read config {path}: {exc.strerror or exc}", "check the path") from exc
    try:
        node = yaml.compose(text, Loader=_loader())
        data = yaml.load(text, Loader=_loader())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise TuneDeckError(f"not valid YAML ({getattr(exc, 'problem', None) or exc})",
                            "fix the line (YAML indents with spaces, not tabs)", where=where) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise TuneDeckError("a config must be a mapping of keys to values", "see docs/training.md",
                            where=f"{path}:1")
    lines = {k.value: k.start_mark.line + 1 for k, _ in node.value} if node is not None else {}
    known = {f.name for f in fields(TrainSettings)}
    for key, value in data.items():
        where = f"{path}:{lines.get(key, 1)}"
        if key == "resume_adapter_file":
            raise TuneDeckError("resume_adapter_file is not used by TuneDeck",
                                "resume a run with `tunedeck train --resume RUN_DIR`", where=where)
        if key not in known and key not in IGNORED_KEYS:
            close = difflib.get_close_matches(str(key), sorted(known | IGNORED_KEYS), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else "see the keys in docs/training.md"
            raise TuneDeckError(f"unknown key {key!r}", hint, where=where)
        expected = _TYPES.get(key)
        if expected and value is not None and not _type_ok(value, expected):
            raise TuneDeckError(f"{key} should be {expected.__name__}, not {type(value).__name__} ({value!r})",
                                "fix the value", where=where)
        if key == "lora_parameters" and isinstance(value, dict):
            bad = set(value) - LORA_KEYS
            if bad:
                raise TuneDeckError(f"unknown lora_parameters key {sorted(bad)[0]!r}",
                                    "use rank, scale, dropout (mlx-lm calls alpha 'scale')", where=where)
            for name, kind in LORA_TYPES.items():
                if name in value and not _type_ok(value[name], kind):
                    raise TuneDeckError(f"lora_parameters {name} should be {kind.__name__}, not "
                                        f"{type(value[name]).__name__} ({value[name]!r})", "fix the value",
                                        where=where)
    out = {k: v for k, v in data.items() if k in known and v is not None}
    if "learning_rate" in out:
        out["learning_rate"] = float(out["learning_rate"])
    if "lora_parameters" in out:
        out["lora_parameters"] = {**TrainSettings.__dataclass_fields__["lora_parameters"].default_factory(),
                                  **out["lora_parameters"]}
    # Nonsense values (batch_size: 0) are refused here too, while the line is known.
    check_settings(TrainSettings.from_dict({"model": "", "data": "", **out}),
                   where={k: f"{path}:{n}" for k, n in lines.items()}, schedule_names=False)
    return out


def dump_yaml(settings: TrainSettings) -> str:
    import yaml

    cfg = settings.mlx_lm_config()
    if not cfg.get("adapter_path"):
        del cfg["adapter_path"]  # mlx-lm: ./adapters; TuneDeck: RUN_DIR/adapters
    return f"{CONFIG_YAML.header}; also runs with `mlx_lm.lora -c <this file>`\n" + \
        yaml.safe_dump(cfg, sort_keys=False, default_flow_style=False)


def save_yaml(settings: TrainSettings, path: str | Path, overwrite: bool = False) -> Path:
    """Save a config where the user asked: an existing file is replaced only
    if it is a config TuneDeck wrote and ``overwrite`` (``core.targets``)."""
    return write_file(path, CONFIG_YAML, dump_yaml(settings), overwrite)


def check_settings(s: TrainSettings, where: dict[str, str] | None = None, schedule_names: bool = True) -> None:
    """Value checks that need no model or data (those are in training).
    ``where`` maps a key to the ``file:line`` it came from, for the message;
    ``schedule_names`` looks the schedule up in mlx (worker thread only)."""
    def bad(key, what, fix):
        raise TuneDeckError(what, fix, where=(where or {}).get(key))

    for key in ("iters", "batch_size", "steps_per_report", "steps_per_eval", "save_every",
                "grad_accumulation_steps", "max_seq_length"):
        if getattr(s, key) < 1:
            bad(key, f"{key} must be at least 1 (got {getattr(s, key)})", f"set {key} to 1 or more")
    if s.num_layers == 0 or s.num_layers < -1:
        bad("num_layers", f"num_layers must be -1 (all) or at least 1 (got {s.num_layers})",
            "use -1 or a layer count")
    if not (s.learning_rate > 0 and math.isfinite(s.learning_rate)):
        bad("learning_rate", f"learning rate must be a positive number (got {s.learning_rate})",
            "try 1e-5 for real models, 1e-3 for the demo model")
    lp = s.lora_parameters
    if not (_type_ok(lp.get("rank"), int) and lp["rank"] >= 1):
        bad("lora_parameters", f"lora rank must be a whole number >= 1 (got {lp.get('rank')!r})", "try 8 or 16")
    dropout = lp.get("dropout", 0)
    if not (_type_ok(dropout, float) and 0 <= dropout < 1):
        bad("lora_parameters", f"lora dropout must be in [0, 1) (got {dropout!r})", "try 0.0 or 0.05")
    scale = lp.get("scale", 20.0)
    if not (_type_ok(scale, float) and math.isfinite(scale)):
        bad("lora_parameters", f"lora scale must be a number (got {scale!r})", "try 20.0 (mlx-lm's default)")
    if s.lr_schedule is not None:
        sch = s.lr_schedule
        if not (isinstance(sch.get("name"), str) and isinstance(sch.get("arguments"), list) and sch["arguments"]):
            bad("lr_schedule", "lr_schedule needs a name and a list of arguments",
                "e.g. {name: cosine_decay, arguments: [1e-5, 1000, 1e-7], warmup: 100}")
        if not schedule_names:
            return
        import mlx.optimizers as optim  # only reached with a schedule set

        if not hasattr(optim.schedulers, sch["name"]):
            bad("lr_schedule", f"unknown lr_schedule {sch['name']!r}", "use cosine_decay, linear_schedule, "
                "step_decay or exponential_decay")


# -- schedules as the form offers them ---------------------------------------
def schedule_for(kind: str, learning_rate: float, iters: int) -> dict | None:
    """mlx-lm ``lr_schedule`` dicts for the form's three choices."""
    warmup = min(100, max(iters // 10, 0))
    if kind == "constant":
        return None
    if kind == "cosine":
        return {"name": "cosine_decay", "arguments": [learning_rate, max(iters - warmup, 1), learning_rate / 10],
                "warmup": warmup, "warmup_init": learning_rate / 10}
    if kind == "linear":
        return {"name": "linear_schedule", "arguments": [learning_rate, learning_rate / 10, max(iters - warmup, 1)],
                "warmup": warmup, "warmup_init": learning_rate / 10}
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
    return {"layers": cfg.get("num_hidden_layers") or cfg.get("n_layer") or 0, "bytes": size,
            "quantized": bool(cfg.get("quantization") or cfg.get("quantization_config"))}


def default_settings(model: str, data: str, adapter_path: str, memory_bytes: int | None = None) -> TrainSettings:
    """Settings sized to the model and the memory: the demo keeps its fast
    demo settings; a real model gets batch/layers that leave room for
    activations (weights are a small share of memory: larger batches)."""
    from core.demo_model import is_demo_model

    if is_demo_model(model):
        return demo_settings(model, data, adapter_path)
    facts = model_facts(model)
    memory = memory_bytes or total_memory() or 16 * 2**30
    share = facts["bytes"] / memory if facts["bytes"] else 0.1
    s = TrainSettings(model=model, data=data, adapter_path=adapter_path, iters=1000, learning_rate=1e-5)
    if share < 0.05:
        s.batch_size, s.num_layers = 4, 16
    elif share < 0.2:
        s.batch_size, s.num_layers = 2, 8
    else:  # the seed recipe for a tight fit: batch 1, 4 layers, checkpointing
        s.batch_size, s.num_layers, s.grad_checkpoint, s.max_seq_length = 1, 4, True, 1024
    if facts["layers"]:
        s.num_layers = min(s.num_layers, facts["layers"])
    if facts["quantized"]:  # QLoRA: a quantized base tolerates (and needs) a higher rate
        s.learning_rate = 1e-4
    return s


def apply_preset(s: TrainSettings, name: str) -> TrainSettings:
    """"quick": a short look at whether it learns; "thorough": longer, more
    capacity, cosine decay with warm-up. Relative to the model's defaults."""
    from core.demo_model import is_demo_model

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
