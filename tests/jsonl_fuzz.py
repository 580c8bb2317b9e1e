"""Mutated JSONL data folders for fuzzing the data checker against mlx-lm.

A file starts as a few valid records of one format (chat, chat with tools,
completions, text) and is then broken twice over: in its structure (a value
of the wrong type anywhere, a lone surrogate, a huge integer, nesting
thousands deep, a key dropped or added) and in its bytes (truncation, byte
flips, ``\\r``, NUL, byte-order marks, invalid UTF-8, blank and huge lines).

``verdicts`` runs both sides on one folder: TuneDeck's checker, and mlx-lm's
own loader (``mlx_lm.tuner.datasets.load_dataset`` and ``process`` of every
record, which is what training calls) with a real tokenizer. The test
(tests/test_data_check_fuzz.py) asserts on them; run this file to count
them over more files, e.g. on an older checker:

    .venv/bin/python tests/jsonl_fuzz.py 7000        # the CI test's own sequence
    .venv/bin/python tests/jsonl_fuzz.py 7000 SEED   # another one
"""

from __future__ import annotations

import copy
import json
import sys
import time
import types
from pathlib import Path

from hypothesis import strategies as st

GOOD_CHAT = {
    "messages": [
        {"role": "system", "content": "Schema: CREATE TABLE t (a INT)"},
        {"role": "user", "content": "How many rows?"},
        {"role": "assistant", "content": "SELECT COUNT(*) FROM t"},
    ]
}
SEEDS = {
    "chat": GOOD_CHAT,
    "chat-tools": {
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": "Sunny, 21 °C ☀️"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "weather",
                    "description": "current weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            }
        ],
    },
    "chat-tool-role": {
        "messages": [
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "calling calc"},
            {"role": "tool", "content": "4"},
            {"role": "assistant", "content": "4\r\nline two\u2028three"},
        ]
    },
    "completions": {"prompt": "Translate: bonjour", "completion": "hello 你好"},
    "text": {"text": "SELECT name FROM users WHERE id = 1; -- ü"},
}

# Values of the wrong type (or awkward ones of the right type).
ODD_VALUES = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    float("inf"),
    "",
    " ",
    "x",
    "\u0000",
    [],
    {},
    [1, "a"],
    {"role": "user"},
    [{"role": "user", "content": "q"}],
    "\ud800",
    "a\udfffb",
    "\ud83d\ude00",
    "<|im_end|>",
]
HUGE_INT = "9" * 5000  # more digits than Python's int/str limit (4300)
BOM = b"\xef\xbb\xbf"
BAD_UTF8 = [b"\xff", b"\xc3", b"\xe9", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf"]


def _paths(obj, prefix=()):
    """Every (path, value) in a record, the record itself included."""
    yield prefix, obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


def _set(obj, path, value):
    if not path:
        return value
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return obj


MARK = "__FUZZ_SPLICE__"  # replaced in the text: values json.dumps cannot write


@st.composite
def records(draw, mutations=(0, 0, 1, 1, 1, 2)):
    """One record (as JSON text) after a few structural mutations."""
    kind = draw(st.sampled_from(sorted(SEEDS)))
    obj = json.loads(json.dumps(SEEDS[kind]))
    splice = None
    for _ in range(draw(st.sampled_from(mutations))):
        places = list(_paths(obj))
        path, _ = places[draw(st.integers(0, len(places) - 1))]
        action = draw(st.sampled_from(["value", "value", "drop", "add", "huge-int", "deep"]))
        if action == "value":
            obj = _set(obj, path, _odd(draw))
        elif action == "drop" and path:
            parent = obj
            for key in path[:-1]:
                parent = parent[key]
            del parent[path[-1]]
        elif action == "add" and isinstance(obj, dict):
            key = draw(
                st.sampled_from(
                    ["tools", "messages", "text", "prompt", "completion", "role", "content", "tool_calls", "name"]
                )
            )
            target = obj
            if path and isinstance(_get(obj, path), dict):
                target = _get(obj, path)
            target[key] = _odd(draw)
        elif action in ("huge-int", "deep") and splice is None:
            depth = draw(st.sampled_from([50, 200, 900, 3000, 10_000]))
            splice = HUGE_INT if action == "huge-int" else "[" * depth + "]" * depth
            obj = _set(obj, path, MARK)
    text = json.dumps(obj, ensure_ascii=draw(st.booleans()))
    if splice is not None:
        text = text.replace(json.dumps(MARK), splice)
    return kind.split("-")[0], text


def _odd(draw):
    return copy.deepcopy(draw(st.sampled_from(ODD_VALUES)))  # never share a mutable value


def _get(obj, path):
    for key in path:
        obj = obj[key]
    return obj


@st.composite
def jsonl_files(draw):
    """(format of the first record, file bytes) after 0-3 byte-level mutations."""
    first_kind, first = draw(records())
    lines = [first]
    for _ in range(draw(st.integers(0, 4))):
        kind, text = draw(records(mutations=(0, 0, 0, 1)))  # most later lines are fine
        lines.append(text)
    data = ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2, 3]))):
        action = draw(
            st.sampled_from(
                [
                    "truncate",
                    "flip",
                    "cr",
                    "nul",
                    "bom",
                    "bad-utf8",
                    "blank",
                    "crlf",
                    "no-final-newline",
                    "huge-line",
                    "duplicate",
                ]
            )
        )
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if action == "truncate":
            data = data[:pos]
        elif action == "flip" and data:
            data = data[:pos] + bytes([data[pos] ^ draw(st.integers(1, 255))]) + data[pos + 1 :]
        elif action == "cr":
            data = data[:pos] + b"\r" + data[pos:]
        elif action == "nul":
            data = data[:pos] + b"\x00" + data[pos:]
        elif action == "bom":
            at = 0 if draw(st.booleans()) else data.rfind(b"\n", 0, pos) + 1
            data = data[:at] + BOM + data[at:]
        elif action == "bad-utf8":
            data = data[:pos] + draw(st.sampled_from(BAD_UTF8)) + data[pos:]
        elif action == "blank":
            at = data.rfind(b"\n", 0, pos) + 1
            data = data[:at] + draw(st.sampled_from([b"\n", b" \n", b"\r\n", b"\t\n"])) + data[at:]
        elif action == "crlf":
            data = data.replace(b"\n", b"\r\n")
        elif action == "no-final-newline":
            data = data.rstrip(b"\n")
        elif action == "huge-line":
            size = draw(st.sampled_from([40_000, 120_000]))  # mlx-lm tokenizes it: the fuzzer's main cost
            row = (
                {"text": "x " * (size // 2)}
                if first_kind == "text"
                else {
                    "messages": [{"role": "user", "content": "q " * (size // 2)}, {"role": "assistant", "content": "a"}]
                }
            )
            data += json.dumps(row).encode() + b"\n"
        elif action == "duplicate":
            data += data
    return first_kind, data


def write_folder(folder: Path, train: bytes) -> Path:
    """train.jsonl as given; valid.jsonl and test.jsonl one good chat row each."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.jsonl").write_bytes(train)
    for name in ("valid", "test"):
        (folder / f"{name}.jsonl").write_text(json.dumps(GOOD_CHAT) + "\n", encoding="utf-8")
    return folder


def mlx_lm_loads(folder: Path, tokenizer, mask_prompt: bool) -> None:
    """Raise what mlx-lm raises when training reads this folder.

    ``load_dataset`` is what ``mlx_lm.lora`` (and TuneDeck's trainer) calls;
    ``process`` is what the trainer's batches call on every record: it applies
    the chat template and tokenizes. Training itself adds nothing that can
    reject a record (it pads and truncates)."""
    from mlx_lm.tuner.datasets import load_dataset

    args = types.SimpleNamespace(data=str(folder), train=True, test=False, mask_prompt=mask_prompt, hf_dataset=None)
    for split in load_dataset(args, tokenizer):
        for i in range(len(split)):
            tokens, offset = split.process(split[i])
            if not tokens:
                raise ValueError(f"record {i + 1} has no tokens")


def verdicts(folder: Path, tokenizer, mask_prompt: bool = False) -> dict:
    """Both sides on one folder: the checker's report (or the exception it
    raised), its time, and mlx-lm's exception when the checker passed it."""
    from core.data.check import check_folder

    out = {"crash": None, "report": None, "mlx_lm_error": None}
    started = time.perf_counter()
    try:
        try:
            out["report"] = check_folder(folder, mask_prompt=mask_prompt)
        except TypeError as exc:  # an older checker without mask_prompt
            if "mask_prompt" not in str(exc):
                raise
            out["report"] = check_folder(folder)
    except Exception as exc:  # noqa: BLE001 -- counting crashes is the point
        out["crash"] = exc
    out["seconds"] = time.perf_counter() - started
    if out["report"] is not None and out["report"].ok:
        try:
            mlx_lm_loads(folder, tokenizer, mask_prompt)
        except Exception as exc:  # noqa: BLE001
            out["mlx_lm_error"] = exc
    return out


def _count(n: int, seed: int | None = None) -> None:
    """Fuzz ``n`` files and print how many crashed the checker and how many
    it passed that mlx-lm then rejected (the figures in docs/reliability.md)."""
    import tempfile
    from collections import Counter

    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as fixed_seed

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from core.data.token_stats import load_tokenizer
    from core.models.demo_model import build

    tmp = Path(tempfile.mkdtemp(prefix="tunedeck-fuzz-"))
    tokenizer = load_tokenizer(str(build(tmp / "demo")))
    seen, crashes, disagree, passed, slowest = [0], Counter(), Counter(), [0], [0.0]
    stricter = Counter()  # refused by the checker, loaded by mlx-lm: by the checker's reason

    @settings(
        max_examples=n, derandomize=seed is None, database=None, deadline=None, suppress_health_check=list(HealthCheck)
    )
    @fixed_seed(seed or 0)
    @given(jsonl_files(), st.booleans())
    def run(case, mask_prompt):
        _, data = case
        folder = write_folder(tmp / f"case{seen[0] % 8}", data)
        seen[0] += 1
        v = verdicts(folder, tokenizer, mask_prompt)
        slowest[0] = max(slowest[0], v["seconds"])
        if v["crash"] is not None:
            crashes[type(v["crash"]).__name__] += 1
        elif v["report"].ok:
            passed[0] += 1
            if v["mlx_lm_error"] is not None:
                disagree[f"{type(v['mlx_lm_error']).__name__}: {str(v['mlx_lm_error'])[:70]}"] += 1
        else:
            try:
                mlx_lm_loads(folder, tokenizer, mask_prompt)
            except Exception:  # noqa: BLE001 -- both refuse it
                return
            first = next(p for p in v["report"].problems if p.severity == "error")
            stricter[first.message.split(":")[0].split("(")[0][:50]] += 1

    t0 = time.perf_counter()
    run()
    print(f"{seen[0]} files in {time.perf_counter() - t0:.0f} s; slowest check {slowest[0]:.2f} s")
    print(f"checker crashed on {sum(crashes.values())}: {dict(crashes)}")
    print(f"checker passed {passed[0]}; mlx-lm rejected {sum(disagree.values())} of them:")
    for what, k in disagree.most_common():
        print(f"  {k:5d}  {what}")
    print(f"checker refused {sum(stricter.values())} that mlx-lm loads (stricter on purpose):")
    for what, k in stricter.most_common():
        print(f"  {k:5d}  {what}")


if __name__ == "__main__":
    _count(int(sys.argv[1]) if len(sys.argv) > 1 else 2000, int(sys.argv[2]) if len(sys.argv) > 2 else None)
