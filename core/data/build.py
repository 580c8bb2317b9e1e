"""Build an mlx-lm data folder from any source: sample, shuffle, map, split, write.

The folder is built in a temporary sibling and checked line by line before it
is renamed into place, so a failed or cancelled build leaves nothing behind
(and an existing folder of the same name untouched).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.data import records
from core.data.check import check_folder, check_record
from core.data.folder import SPLITS, write_splits
from core.data.presets import FORMATS, Preset, check_columns, custom_preset, get_preset, render, suggest_preset
from core.data.rows import Source
from core.data.sources import open_source
from core.runtime.errors import TuneDeckError
from core.runtime.targets import DATASET, claim

DEFAULT_SPLIT = "80%,10%,10%"
TICK = 1000  # rows between progress reports / cancel checks


@dataclass
class BuildSpec:
    source: str
    out: str
    preset: str | None = None  # None: suggested from the columns
    format: str | None = None  # chat | completions | text; None: chat (as-is: keep the rows' own)
    sample: int | None = None  # None: every row
    split: str = DEFAULT_SPLIT  # counts "100,25,25" or ratios "80%,10%,10%" / "0.8,0.1,0.1"
    seed: int = 0
    config: str | None = None  # hub sources
    hf_split: str | None = None
    system: str | None = None  # template overrides ("{column}" style)
    user: str | None = None
    assistant: str | None = None
    stream: bool | None = None  # hub sources: stream only the sample (None: for big splits, see core.data.hub_datasets)
    overwrite: bool = False  # the user asked that an earlier TuneDeck dataset at ``out`` be replaced


def parse_split(text: str) -> tuple[str, list[float]]:
    """('counts', [100, 25, 25]) or ('ratios', [0.8, 0.1, 0.1])."""
    parts = [p.strip() for p in str(text).split(",")]
    hint = "give train,valid[,test] as counts (100,25,25) or ratios (80%,10%,10% or 0.8,0.1,0.1)"
    if not 2 <= len(parts) <= 3:
        raise TuneDeckError(f"split {text!r} needs two or three parts", hint)
    ratios = any("%" in p or "." in p for p in parts)
    try:
        values = [float(p.rstrip("%")) / (100 if "%" in p else 1) if ratios else int(p) for p in parts]
    except ValueError:
        raise TuneDeckError(f"split {text!r} is not numbers", hint) from None
    values += [0] * (3 - len(values))
    if any(v < 0 for v in values) or values[0] <= 0:
        raise TuneDeckError(f"split {text!r}: train must be > 0 and none negative", hint)
    if ratios and sum(values) > 1.0001:
        raise TuneDeckError(f"split {text!r} adds up to more than 100%", hint)
    return ("ratios" if ratios else "counts"), values


def split_sizes(kind: str, values: list[float], total: int) -> list[int]:
    if kind == "counts":
        return [int(v) for v in values]
    scale = total / sum(values) if sum(values) > 0.9999 else total
    valid = max(1, round(values[1] * scale)) if values[1] else 0
    test = max(1, round(values[2] * scale)) if values[2] else 0
    train = total - valid - test if sum(values) > 0.9999 else round(values[0] * scale)
    if train < 1:
        raise TuneDeckError(f"{total} rows are too few for this split", "use more rows or give counts")
    return [train, valid, test]


def check_out(spec: BuildSpec) -> None:
    """Refuse an output folder whose replacement would lose anything.

    A build replaces its folder whole, so ``--out ~``, a folder with the
    user's own files in it, or a hand-made dataset must be refused, not
    swapped away: only a new or empty folder, or (``overwrite``) an earlier
    TuneDeck build, unchanged since (``core.runtime.targets``). Nor may a build read
    from the folder it replaces (it would shrink to a sample of itself).
    """
    out = claim(spec.out, DATASET, spec.overwrite).path
    source = Path(spec.source).expanduser()
    if source.exists():
        src, dst = os.path.realpath(source), os.path.realpath(out)
        if src == dst or src.startswith(dst + os.sep):
            raise TuneDeckError(
                f"the source {spec.source} is inside {out}, the folder this build would replace",
                "write the build to another folder",
            )


def resolve_preset(spec: BuildSpec, columns: list[str]) -> Preset:
    if spec.preset in (None, "", "auto", "custom") and spec.user and spec.assistant:
        preset = custom_preset(spec.user, spec.assistant, spec.system or "")
        check_columns(preset, columns)
        return preset
    if spec.preset == "custom":
        raise TuneDeckError(
            "the custom preset needs --user and --assistant templates",
            f"e.g. --user '{{{columns[0]}}}' --assistant '{{{columns[-1]}}}'",
        )
    name = spec.preset
    if name in (None, "", "auto"):
        name = suggest_preset(columns)
        if name is None:
            raise TuneDeckError(
                f"no preset fits the columns {', '.join(columns)}",
                "pick one with --preset, or map columns: --user '{col}' --assistant '{col}'",
            )
    preset = get_preset(name).with_templates(spec.system, spec.user, spec.assistant)
    check_columns(preset, columns)
    return preset


def render_rows(source: Source, preset: Preset, fmt: str, indices) -> list[tuple[int, dict | None, str]]:
    """(index, record or None, problem) for previews."""
    out = []
    for i in indices:
        record = render(preset, source.row(i), fmt)
        problem = check_record(record)
        if problem and len(problem) < 3:
            out.append((i, None, problem[0]))
        else:
            out.append((i, record, problem[0] if problem else ""))
    return out


def build(
    spec: BuildSpec,
    progress: Callable | None = None,
    check_cancelled: Callable[[], None] | None = None,
    source: Source | None = None,
    hub: dict | None = None,
) -> dict:
    """Write the folder; returns the manifest (counts, skipped rows, …).

    ``hub``: options for opening a hub source (``core.data.hub_datasets.load``)."""
    progress = progress or (lambda *a, **k: None)
    check_cancelled = check_cancelled or (lambda: None)
    if spec.format is not None and spec.format not in FORMATS:
        raise TuneDeckError(f"unknown format {spec.format!r}", "use chat, completions or text")
    kind, values = parse_split(spec.split)
    check_out(spec)
    if source is None:
        progress(f"opening {spec.source}")
        # How many rows the build takes: lets a big hub split stream just those.
        rows = spec.sample or (int(sum(values)) if kind == "counts" else None)
        source = open_source(
            spec.source,
            spec.config,
            spec.hf_split,
            progress,
            **(hub or {}),
            sample=rows,
            seed=spec.seed,
            stream=spec.stream,
        )
    check_cancelled()
    preset = resolve_preset(spec, source.columns)
    fmt = spec.format or ("" if preset.name == "as-is" else "chat")
    total = len(source)
    wanted = spec.sample if spec.sample else (int(sum(values)) if kind == "counts" else total)
    if spec.sample is not None and spec.sample < 1:
        raise TuneDeckError("the sample must be at least 1 row", "give the number of rows to keep")
    # Said in words both interfaces share (the CLI's --sample, the TUI's sample rows).
    if wanted > total:
        raise TuneDeckError(
            f"asked for {wanted:,} rows but the source has {total:,}",
            f"sample {total:,} rows or fewer, or use smaller split counts",
        )
    if kind == "counts" and spec.sample and int(sum(values)) != spec.sample:
        raise TuneDeckError(
            f"split counts add up to {int(sum(values))}, not the sample of {spec.sample} rows",
            "leave the sample out (the counts already say how many) or use ratios",
        )

    order = list(range(total))
    random.Random(spec.seed).shuffle(order)
    kept, skipped = [], []
    for n, i in enumerate(order):
        if len(kept) >= wanted:
            break
        if n % TICK == 0:
            check_cancelled()
            progress(f"mapping rows with preset {preset.name}", len(kept), wanted)
        record = render(preset, source.row(i), fmt)
        problem = check_record(record)
        if problem and len(problem) < 3:  # an error: mlx-lm would fail on this row
            skipped.append(f"{source.where(i)}: {problem[0]}")
            continue
        kept.append(record)
    if not kept:
        first = f" (first: {skipped[0]})" if skipped else ""
        raise TuneDeckError(
            f"no usable rows: every mapped row was empty or invalid{first}",
            "check the column mapping: each template must name a column with text",
        )
    if kind == "counts" and len(kept) < wanted:
        raise TuneDeckError(
            f"only {len(kept)} usable rows for split {spec.split} "
            f"({len(skipped)} skipped, e.g. {skipped[0] if skipped else '-'})",
            "ask for fewer rows or fix the source",
        )
    sizes = split_sizes(kind, values, len(kept))
    splits, start = {}, 0
    for name, size in zip(SPLITS, sizes):
        if size:  # an empty split file would make mlx-lm fail
            splits[name] = kept[start : start + size]
        start += size

    manifest = {
        "source": source.spec,
        "source_kind": source.kind,
        "source_rows": total,
        # What was read (a hub or saved dataset's default config/split resolved), so
        # the same build from the TUI and the CLI records the same.
        "config": source.details.get("config", spec.config),
        "hf_split": source.details.get("split", spec.hf_split),
        **{k: source.details[k] for k in ("revision", "streamed") if k in source.details},
        "preset": preset.name,
        "templates": {"system": preset.system, "user": preset.user, "assistant": preset.assistant},
        "format": fmt or records.kind_of(kept[0]) or "as-is",
        "seed": spec.seed,
        "sample": spec.sample,
        "split": spec.split,
        "skipped": len(skipped),
        "skipped_rows": skipped[:50],
    }

    def verify(tmp: Path) -> None:
        progress("checking every written line")
        report = check_folder(tmp)
        if not report.ok:  # a bug or an odd template: never leave a folder mlx-lm rejects
            first = report.problems[0] if report.problems else "?"
            raise TuneDeckError(
                f"the built data does not pass the check: {first}", "adjust the templates; nothing was written"
            )

    def tick(done: int, total_rows: int) -> None:
        check_cancelled()
        progress(f"writing {spec.out}", done, total_rows)

    check_out(spec)  # again: the folder may have changed during a long build
    write_splits(spec.out, splits, manifest, tick=tick, verify=verify, overwrite=spec.overwrite)
    manifest["counts"] = {k: len(v) for k, v in splits.items()}
    manifest["out"] = str(spec.out)
    return manifest
