"""Fuse an adapter into a standalone MLX model folder, then verify it.

The fuse is mlx-lm's own (as ``mlx_lm.fuse`` does it): load base + adapter,
call ``fuse()`` on every module that has one, optionally dequantize, and
``mlx_lm.utils.save`` weights, config and tokenizer. The folder is written
under a temp name and renamed into place, so a failure or a cancel leaves
no folder behind. The folder's ``tunedeck_fused.json`` records the adapter
(path, iteration, content hash) and base it came from (``core.shipping.provenance``),
so the Judge screen and ``export`` can tell when it is out of date; only a
folder with that record is ever replaced, and only when asked (``overwrite``).

Verification answers "is the fused model the model I trained?": greedy
answers to a few fixed prompts from the fused folder, loaded fresh, must
equal the adapter-on-base answers. A difference is reported (with both
texts), not raised: on a quantized base, folding the adapter into
re-quantized weights legitimately shifts outputs a little.
Runs on the MLX worker thread only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from core.evaluation.judge import check_adapter
from core.evaluation.task_score import greedy_answer, read_examples
from core.models.model_folder import check_model_folder, load_model
from core.runtime import events as ev
from core.runtime.errors import TuneDeckError
from core.runtime.targets import FUSED_MODEL, TargetRefused, claim, write_folder
from core.shipping.provenance import check_fused, fused_record

# Imported where used, not at module level (import cost, 2 cores): mlx (runs on the worker), mlx_lm ~3 s

VERIFY_TOKENS = 32

# Used when no test/valid split is at hand (e.g. the adapter's data moved).
FALLBACK_PROMPTS = [
    [{"role": "user", "content": "Which player has the most goals?"}],
    [{"role": "user", "content": "How many albums were released in 1999?"}],
    [{"role": "user", "content": "Name the city with the largest population."}],
]


@dataclass(frozen=True)
class FuseResult:
    out: str  # the fused model folder
    dequantized: bool
    quantized_base: bool
    adapter: str  # the adapter fused in, as its provenance record names it
    adapter_choice: str | None  # last | best (None: not a run's adapter)
    adapter_iteration: int | None
    checks: list[ev.FuseVerified] = field(default_factory=list)  # empty: not verified
    note: str = ""  # what the user should know about the fused weights

    @property
    def verified(self) -> bool:
        return bool(self.checks)

    @property
    def all_match(self) -> bool | None:
        """Every fused answer equals the adapter-on-base one (None: not verified)."""
        return all(c.match for c in self.checks) if self.checks else None


def verify_prompts(adapter: str, data: str | None = None, n: int = 3) -> list[list[dict]]:
    """The first ``n`` test (else valid) prompts of the adapter's data."""
    if data is None:
        try:
            data = json.loads((Path(adapter) / "adapter_config.json").read_text()).get("data")
        except (OSError, ValueError):
            data = None
    if data:
        for split in ("test", "valid"):
            if (Path(data) / f"{split}.jsonl").is_file():
                try:
                    return [e.messages for e in read_examples(data, n, split)]
                except TuneDeckError:
                    break  # text data has no prompts: use the fallback ones
    return FALLBACK_PROMPTS[:n]


def _answers(ctx, model, tokenizer, prompts, what: str) -> list[str]:
    out = []
    for i, messages in enumerate(prompts):
        ctx.progress(f"{what}: prompt {i + 1}/{len(prompts)}", i, len(prompts))
        out.append(greedy_answer(model, tokenizer, messages, VERIFY_TOKENS, ctx))
    return out


def _refuse_target(out_dir: Path, overwrite: bool) -> None:
    """The write rule (``core.runtime.targets.claim``), with what an earlier fused
    model there was fused from when it refuses one of ours."""
    try:
        claim(out_dir, FUSED_MODEL, overwrite)
    except TargetRefused as exc:
        fresh = check_fused(out_dir) if exc.replaceable else None
        if fresh is not None:
            state = {"fresh": "up to date", "stale": "out of date", "unknown": "cannot be checked"}
            exc.message = f"{exc.message} ({state[fresh.state]}: {fresh.reason})"
        raise


def run_fuse(
    ctx,
    model_path: str,
    adapter: str,
    out: str,
    dequantize: bool = False,
    verify: bool = True,
    data: str | None = None,
    overwrite: bool = False,
) -> FuseResult:
    from mlx.utils import tree_unflatten
    from mlx_lm.utils import dequantize_model, save

    check_model_folder(model_path)
    check_adapter(adapter)
    out_dir = Path(out)
    _refuse_target(out_dir, overwrite)
    ctx.progress("reading the adapter's fingerprint")
    record = fused_record(model_path, adapter, out_dir, dequantize, quantized_base=False)
    ctx.progress("loading base + adapter")
    model, tokenizer, config = load_model(model_path, adapter, return_config=True)
    quantized = "quantization" in config or "quantization_config" in config
    record["quantized_base"] = quantized
    prompts = verify_prompts(adapter, data) if verify else []
    expected = _answers(ctx, model, tokenizer, prompts, "adapter-on-base answers")
    ctx.check_cancelled()

    ctx.progress("fusing the adapter into the weights")
    fused = [(n, m.fuse(dequantize=dequantize)) for n, m in model.named_modules() if hasattr(m, "fuse")]
    if fused:
        model.update_modules(tree_unflatten(fused))
    if dequantize:
        model = dequantize_model(model)
        config.pop("quantization", None)
        config.pop("quantization_config", None)
    with write_folder(out_dir, FUSED_MODEL, overwrite) as draft:
        ctx.progress(f"writing {out_dir.name}")
        save(draft.path, model_path, model, tokenizer, config, donate_model=False)
        draft.marker.update(record)  # provenance: which adapter and base (core.shipping.provenance)
        ctx.check_cancelled()  # a cancel here still leaves no folder
    del model

    checks = []
    if verify:
        ctx.progress("loading the fused model")
        fused_model, fused_tok = load_model(out_dir)
        got = _answers(ctx, fused_model, fused_tok, prompts, "fused-model answers")
        for i, (messages, want, have) in enumerate(zip(prompts, expected, got)):
            event = ev.FuseVerified(
                index=i, prompt=messages[-1]["content"], expected=want, got=have, match=want == have
            )
            ctx.emit(event)
            checks.append(event)
    note = ""
    if quantized and not dequantize:
        note = (
            "the base is quantized: the adapter was folded into re-quantized weights, which can "
            "change outputs slightly (fuse with --dequantize for an exact, larger model)"
        )
    return FuseResult(
        out=str(out_dir),
        dequantized=dequantize,
        quantized_base=quantized,
        adapter=record["adapter"]["path"],
        adapter_choice=record["adapter"]["choice"],
        adapter_iteration=record["adapter"]["iteration"],
        checks=checks,
        note=note,
    )
