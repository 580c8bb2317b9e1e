"""``tunedeck models`` (list, download, search) and ``tunedeck demo-model``."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from tui.commands.common import OVERWRITE_HELP, count, engine_printing, wait


def register(sub) -> None:
    demo = sub.add_parser("demo-model", help="build the tiny offline demo model into OUT_DIR")
    demo.add_argument("out_dir")
    demo.add_argument(
        "--size",
        choices=["tiny", "large"],
        default="tiny",
        help="tiny (~0.2M params, default) or large (~30M, for benchmarks)",
    )
    demo.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP.format(what="demo model"))
    demo.set_defaults(func=run_demo_model)

    models = sub.add_parser("models", help="models: list local and curated (default), download, search")
    models.add_argument("--json", action="store_true", help="machine-readable output")
    models.set_defaults(func=run_list)
    actions = models.add_subparsers(dest="models_command", metavar="ACTION")
    ls = actions.add_parser("list", help="local and curated models (the default action)")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=run_list)
    dl = actions.add_parser("download", help="download REPO_ID from the hub; prints the local path")
    dl.add_argument("repo_id", help="owner/name, e.g. Qwen/Qwen2.5-0.5B-Instruct")
    dl.add_argument("--endpoint", help="hub URL (default: the app setting, HF_ENDPOINT, or huggingface.co)")
    dl.set_defaults(func=run_download)
    se = actions.add_parser("search", help="search the hub for text-generation models mlx-lm can load")
    se.add_argument("text")
    se.add_argument("--limit", type=count(), default=20)
    se.add_argument("--endpoint", help="hub URL")
    se.add_argument("--json", action="store_true", help="machine-readable output")
    se.set_defaults(func=run_search)


def run_demo_model(args) -> int:
    out = wait(engine_printing().build_demo_model(Path(args.out_dir), args.size, overwrite=args.overwrite))
    print(out)
    return 0


def run_list(args) -> int:
    from core.models.curated import CURATED
    from core.models.model_info import format_params, format_size, local_models
    from core.runtime.memory import total_memory

    memory = total_memory()
    local = local_models()
    curated = []
    for c in CURATED:
        est = c.estimate(memory)
        curated.append(
            {
                "repo_id": c.repo_id,
                "parameters": c.parameters,
                "bits": c.bits,
                "model_type": c.model_type,
                "download_bytes": int(c.download_bytes),
                "train_memory_bytes": int(est.need_bytes),
                "fit": est.verdict,
                "gated": c.gated,
                "note": c.note,
            }
        )
    if args.json:
        print(json.dumps({"memory_bytes": memory, "local": [m.as_dict() for m in local], "curated": curated}, indent=2))
        return 0
    print(f"Local ({len(local)}):")
    for m in local:
        state = "ready" if m.complete and m.supported else (m.problem or "not loadable")
        bits = f"{m.bits}-bit" if m.bits else "16/32-bit"
        print(
            f"  {m.name}  {format_size(m.size_bytes)}, {format_params(m.parameters)} params, {bits}, "
            f"{m.model_type}, mlx-lm: {'yes' if m.supported else 'no'}  [{state}]"
        )
        print(f"    {m.path}")
    if not local:
        print("  (none yet: `tunedeck demo-model DIR` or `tunedeck models download REPO_ID`)")
    mem = f"{memory / 2**30:.0f} GiB" if memory else "unknown memory"
    print(f"Curated (LoRA training memory vs this machine's {mem}):")
    for c in curated:
        extra = ", gated" if c["gated"] else ""
        extra += f", {c['note']}" if c["note"] else ""
        bits = f"{c['bits']}-bit" if c["bits"] else "16-bit"
        print(
            f"  {c['repo_id']}  {format_size(c['download_bytes'])} download, {format_params(c['parameters'])}, "
            f"{bits}{extra}; training ~{c['train_memory_bytes'] / 2**30:.1f} GB: {c['fit']}"
        )
    return 0


def run_download(args) -> int:
    path = wait(engine_printing().download_model(args.repo_id, endpoint=args.endpoint))
    print(path)
    return 0


def run_search(args) -> int:
    from core.models.hub import search_models
    from core.models.model_info import format_params, format_size

    found = search_models(args.text, endpoint=args.endpoint, limit=args.limit)
    if args.json:
        print(json.dumps([asdict(m) for m in found], indent=2))
        return 0
    if not found:
        print(f"no text-generation models mlx-lm can load match {args.text!r}")
        return 0
    for m in found:
        gated = ", gated" if m.gated else ""
        bits = f", {m.bits}-bit" if m.bits else ""
        print(
            f"{m.repo_id}  {m.downloads:,} downloads, {format_size(m.size_bytes)}, "
            f"{format_params(m.parameters)} params, {m.model_type}{bits}{gated}"
        )
    return 0
