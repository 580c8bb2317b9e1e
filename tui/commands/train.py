"""``tunedeck train``: LoRA training headless, printing plain progress lines."""

from __future__ import annotations

from tui.commands.common import engine_printing, wait


def register(sub) -> None:
    p = sub.add_parser("train", help="LoRA-train headless, printing plain progress lines")
    p.add_argument("--model", required=True, help="model folder")
    p.add_argument("--data", required=True, help="folder with train.jsonl and valid.jsonl")
    p.add_argument("--adapter-path", required=True, help="where to write the adapter")
    p.add_argument("--iters", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--learning-rate", type=float)
    p.add_argument("--num-layers", type=int)
    p.add_argument("--mask-prompt", action="store_true", default=None)
    p.add_argument("--seed", type=int)
    p.set_defaults(func=run)


def run(args) -> int:
    from core.demo_model import is_demo_model
    from core.training import TrainSettings, demo_settings

    make = demo_settings if is_demo_model(args.model) else TrainSettings
    settings = make(model=args.model, data=args.data, adapter_path=args.adapter_path)
    for key in ("iters", "batch_size", "learning_rate", "num_layers", "mask_prompt", "seed"):
        value = getattr(args, key)
        if value is not None:
            setattr(settings, key, value)
    result = wait(engine_printing().train(settings))
    how = "stopped" if result["stopped_early"] else "finished"
    print(f"{how} after {result['iterations']} iterations; adapter in {result['adapter_path']}")
    return 0
