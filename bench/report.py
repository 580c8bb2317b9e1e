"""Render a bench JSON as the Markdown tables in docs/benchmarks.md.

``python -m bench.report OUT.json`` prints Markdown to paste into the docs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _fmt(value, digits=2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def render(data: dict) -> str:
    m = data["machine"]
    r = data["results"]
    lines = [
        f"Measured {data['started']} with `{data['command']}` ({data['seconds']:.0f} s) on "
        f"{m['system']}, {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GiB; Python {m['python']}, "
        f"mlx {m['mlx']}, mlx-lm {m['mlx-lm']}, textual {m['textual']}; BLAS for every run: "
        f"{data['blas_library'] or 'the wheel’s reference BLAS'}; load average at start {m['load_average']:.1f}.",
        "",
        "| what | measured | target | met |",
        "| --- | ---: | --- | :---: |",
    ]
    for row in data["summary"]:
        target = "report" if row["op"] == "report" else f"{row['op']} {row['target']}"
        met = "" if row["met"] is None else ("yes" if row["met"] else "**no**")
        lines.append(f"| {row['what']} | {_fmt(row['value'], 3)} | {target} | {met} |")
    if "train" in r:
        lines += [
            "",
            "Training, median of interleaved runs (tokens/s counts non-padding tokens):",
            "",
            "| model | iters × reps | raw mlx_lm.lora | TuneDeck (mlx-lm batches) | TuneDeck (grouped, default) "
            "| peak MB raw / TuneDeck / grouped |",
            "| --- | --- | ---: | ---: | ---: | --- |",
        ]
        for size, t in r["train"].items():
            tps, mem = t["tokens_per_second"], t["peak_memory_bytes"]
            mb = " / ".join(
                _fmt(mem[k] / 2**20 if mem[k] else None, 0) for k in ("raw", "tunedeck", "tunedeck_grouped")
            )
            lines.append(
                f"| {size} | {t['iters']} × {t['reps']} | {_fmt(tps['raw'], 0)} | {_fmt(tps['tunedeck'], 0)} "
                f"| {_fmt(tps['tunedeck_grouped'], 0)} | {mb} |"
            )
    if "chat" in r:
        lines += [
            "",
            "Chat, greedy, median of interleaved runs in one process:",
            "",
            "| model | tokens | raw tok/s | TuneDeck tok/s | raw TTFT ms | TuneDeck TTFT ms |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for size, c in r["chat"].items():
            lines.append(
                f"| {size} | {c['tokens']} | {_fmt(c['tokens_per_second']['raw'], 0)} | "
                f"{_fmt(c['tokens_per_second']['tunedeck'], 0)} | {_fmt(c['ttft_s']['raw'] * 1000, 1)} | "
                f"{_fmt(c['ttft_s']['tunedeck'] * 1000, 1)} |"
            )
    if "padding" in r:
        lines += [
            "",
            "Padding (share of token slots that are padding, mean of 5 shuffled epochs):",
            "",
            "| data | examples | tokens min / median / max "
            "| mlx-lm bs 4 | TuneDeck bs 4 | mlx-lm bs 8 | TuneDeck bs 8 |",
            "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
        ]
        for name, p in r["padding"].items():
            lines.append(
                f"| {name} | {p['examples']} | {p['tokens_min']} / {p['tokens_median']} / {p['tokens_max']} | "
                f"{p['mlx_lm_padding_bs4']:.1%} | {p['tunedeck_padding_bs4']:.1%} | "
                f"{p['mlx_lm_padding_bs8']:.1%} | {p['tunedeck_padding_bs8']:.1%} |"
            )
    if "blas" in r and "speedup" in r["blas"]:
        b = r["blas"]
        lines += [
            "",
            f"BLAS ({b['size']} model, TuneDeck training): reference BLAS "
            f"{_fmt(b['tokens_per_second']['reference'], 0)} tok/s, OpenBLAS "
            f"{_fmt(b['tokens_per_second']['openblas'], 0)} tok/s ({b['speedup']:.1f}x).",
        ]
    if "datacheck" in r:
        d = r["datacheck"]
        lines += [
            "",
            f"Data check: {d['lines']:,} chat lines ({d['file_mb']:.0f} MB) in {d['seconds']:.2f} s = "
            f"{d['lines_per_second']:,.0f} lines/s; peak RSS {d['rss_peak_mb']:.0f} MB "
            f"(+{d['rss_growth_mb']:.0f} MB while checking).",
        ]
    if "coldstart" in r:
        c = r["coldstart"]
        lines += [
            "",
            f"Cold start: first paint {c['first_paint_s']:.3f} s; `import tui.app` {c['import_tui_app_s']:.3f} s "
            f"(`import textual.app` alone {c['import_textual_app_s']:.3f} s).",
        ]
    if data.get("errors"):
        lines += ["", "Errors: " + "; ".join(f"{k}: {v}" for k, v in data["errors"].items())]
    return "\n".join(lines) + "\n"


def spread(datas: list[dict]) -> str:
    """One row per target, one column per run: how stable each figure is."""
    heads = [f"{d['started'][11:16]} (load {d['machine']['load_average']:.1f})" for d in datas]
    lines = ["| what | " + " | ".join(heads) + " | target |", "| --- |" + " ---: |" * len(datas) + " --- |"]
    rows: dict[str, list] = {}
    targets = {}
    for i, d in enumerate(datas):
        for row in d["summary"]:
            rows.setdefault(row["what"], [None] * len(datas))[i] = row["value"]
            targets[row["what"]] = "report" if row["op"] == "report" else f"{row['op']} {row['target']}"
    for what, values in rows.items():
        lines.append(f"| {what} | " + " | ".join(_fmt(v, 3) for v in values) + f" | {targets[what]} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    runs = [json.loads(Path(path).read_text()) for path in sys.argv[1:]]
    print(render(runs[-1]), end="")
    if len(runs) > 1:
        print("\nThe same figures across runs (`python -m bench.report A.json B.json ...`):\n")
        print(spread(runs), end="")
