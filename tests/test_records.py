"""core.data.records against mlx-lm's own dataset classes.

Each record of the table is given to mlx-lm's ``create_dataset`` with the demo
model's tokenizer: the class it picks must be the kind records says, and the
tokens it trains on must be records' parts (the conversation through the chat
template, the prompt mask's split, the text). A change in mlx-lm's rules
fails here first.
"""

from __future__ import annotations

import json
import types

import pytest

from core.data import questions, records
from core.data.check import check_record
from core.data.token_stats import load_tokenizer
from core.evaluation import test_prompts
from core.evaluation.task_score import read_examples
from core.runtime.errors import TuneDeckError

U = {"role": "user", "content": "How many singers are there?"}
A = {"role": "assistant", "content": "SELECT count(*) FROM singer"}
S = {"role": "system", "content": "You write SQLite for: CREATE TABLE singer (name TEXT)"}
U2 = {"role": "user", "content": "And how many are French?"}
A2 = {"role": "assistant", "content": "SELECT count(*) FROM singer WHERE nation = 'FR'"}
TOOLS = [{"type": "function", "function": {"name": "run_sql", "parameters": {"type": "object"}}}]
P, C, T = "Q: list the singers\nSQL:", " SELECT name FROM singer", "Q: list the singers\nSQL: SELECT name FROM singer"

# (id, record, the kind mlx-lm picks (None: it refuses), the reference answer, the custom keys)
CASES = [
    ("chat", {"messages": [U, A]}, "chat", A["content"], None),
    ("chat-system", {"messages": [S, U, A]}, "chat", A["content"], None),
    ("chat-extra-key", {"messages": [U, A], "id": 7, "source": "x"}, "chat", A["content"], None),
    ("chat-tools", {"messages": [U, A], "tools": TOOLS}, "chat", A["content"], None),
    ("chat-last-turn-user", {"messages": [S, U, A, U2]}, "chat", None, None),
    ("chat-multi-turn", {"messages": [U, A, U2, A2]}, "chat", A2["content"], None),
    ("completions", {"prompt": P, "completion": C}, "completions", C, None),
    ("completions-tools", {"prompt": P, "completion": C, "tools": TOOLS}, "completions", C, None),
    ("completions-empty-strings", {"prompt": "", "completion": ""}, "completions", "", None),
    ("two-kinds-completions-wins", {"prompt": P, "completion": C, "messages": [U, A]}, "completions", C, None),
    ("two-kinds-chat-wins", {"messages": [U, A], "text": T}, "chat", A["content"], None),
    ("prompt-without-completion-is-text", {"prompt": P, "text": T}, "text", None, None),
    ("completion-without-prompt-is-chat", {"completion": C, "messages": [U, A]}, "chat", A["content"], None),
    ("text", {"text": T}, "text", None, None),
    ("text-extra-key", {"text": T, "label": 1}, "text", None, None),
    ("prompt-only", {"prompt": P}, None, None, None),
    ("no-known-key", {"question": "q", "answer": "a"}, None, None, None),
    (
        "custom-prompt-completion",
        {"question": P, "answer": C, "prompt": "unused"},
        "completions",
        C,
        {"prompt_feature": "question", "completion_feature": "answer"},
    ),
    (
        "custom-chat",
        {"conversation": [U, A], "messages": "unused"},
        "chat",
        A["content"],
        {"chat_feature": "conversation"},
    ),
    ("custom-text", {"body": T}, "text", None, {"text_feature": "body"}),
]


@pytest.fixture(scope="module")
def mlx_lm_reads(engine, demo_model):
    """``read(records, config) -> [(class name, tokens, masked offset)]`` from
    mlx-lm's own dataset classes, on the worker (mlx_lm imports mlx)."""
    tokenizer = engine.worker.submit("tokenizer", lambda _ctx: load_tokenizer(demo_model)).result(timeout=120)

    def run(_ctx, rows, config):
        from mlx_lm.tuner.datasets import create_dataset

        out = []
        for mask in (False, True):
            try:
                ds = create_dataset(rows, tokenizer, types.SimpleNamespace(**config, mask_prompt=mask))
            except ValueError:
                out.append(None)
                continue
            out.append((type(ds).__name__, [ds.process(r) for r in rows]))
        return out

    def read(rows, config=None):
        return engine.worker.submit("mlx-lm dataset", run, rows, config or {}).result(timeout=60)

    read.tokenizer = tokenizer
    return read


def _template(tokenizer, messages, tools, **kw):
    return tokenizer.apply_chat_template(messages, tools=tools, return_dict=False, **kw)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_records_agree_with_mlx_lm(mlx_lm_reads, case):
    _, record, kind, reference, config = case
    keys = records.Keys.from_config(config or {})
    assert records.kind_of(record, keys) == kind
    plain, masked = mlx_lm_reads([record], config)
    if kind is None:
        assert plain is None
        with pytest.raises(ValueError):
            records.parse(record, keys=keys)
        return
    parsed = records.parse(record, keys=keys)
    name, [(tokens, _)] = plain
    assert name == {"chat": "ChatDataset", "completions": "CompletionsDataset", "text": "TextDataset"}[kind]
    assert parsed.kind == kind and parsed.reference == reference
    tok = mlx_lm_reads.tokenizer
    if kind == "text":
        assert masked is None  # mlx-lm refuses the prompt mask for text
        assert tok.decode(tokens).startswith(parsed.text) and parsed.prompt == [] and parsed.reference is None
        assert parsed.question == [{"role": "user", "content": parsed.text}]
        return
    # the whole conversation, as records has it, is what mlx-lm renders ...
    assert tokens == _template(tok, parsed.messages, parsed.tools)
    assert parsed.tools == record.get("tools")
    # ... and the prompt mask hides records' prompt and trains its last turn
    _, [(masked_tokens, offset)] = masked
    assert masked_tokens == tokens
    hidden, trained = tok.decode(tokens[:offset]), tok.decode(tokens[offset:])
    assert parsed.trained["content"] in trained
    assert all(m["content"] in hidden for m in parsed.prompt)
    assert not parsed.trained["content"] or parsed.trained["content"] not in hidden
    if reference is not None:
        assert parsed.question == parsed.prompt and parsed.trained == {"role": "assistant", "content": reference}
    else:
        assert parsed.question == parsed.messages  # nothing to compare with: ask it all
    assert parsed.system == (S["content"] if parsed.messages[0] == S else None)


# (first record of the file, a later one, whether mlx-lm reads the later one)
LATER = [
    ({"messages": [U, A]}, {"messages": [U, A], "prompt": P, "completion": C}, True),
    ({"messages": [U, A]}, {"prompt": P, "completion": C}, False),
    ({"prompt": P, "completion": C}, {"prompt": P, "completion": C, "text": T}, True),
    ({"prompt": P, "completion": C}, {"prompt": P, "text": T}, False),
    ({"text": T}, {"text": T, "messages": [U, A]}, True),
    ({"text": T}, {"messages": [U, A]}, False),
]


@pytest.mark.parametrize("first, later, read", LATER)
def test_a_file_has_its_first_records_kind(mlx_lm_reads, first, later, read):
    kind = records.kind_of(first)
    assert records.reads(later, kind) is read
    (name, _), _ = mlx_lm_reads([first], None)
    if read:
        assert records.parse(later, kind).kind == kind
        assert mlx_lm_reads([first, later])[0][0] == name
    else:
        with pytest.raises(ValueError, match=f"not a {kind} record"):
            records.parse(later, kind)
        with pytest.raises(KeyError):  # mid-run, in mlx-lm
            mlx_lm_reads([first, later])


def test_the_check_refuses_what_mlx_lm_accepts_but_cannot_learn_from():
    assert check_record({"prompt": "", "completion": ""})[0] == "'prompt' is empty"
    assert check_record({"text": " "})[0] == "'text' is empty"
    assert "not assistant" in check_record({"messages": [S, U, A, U2]})[0]  # a warning
    assert check_record({"prompt": P}) == ("unknown format", "use 'messages', 'prompt'+'completion' or 'text'")


def _split(tmp_path, rows, raw: str = ""):
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + raw)
    return tmp_path


def test_one_reader_of_the_test_split(tmp_path):
    folder = _split(
        tmp_path,
        [
            {"messages": [S, U, A]},
            {"prompt": P, "completion": C},  # not read by mlx-lm in a chat file
            {"messages": [U, A, U2]},  # no reference: still a question for the chat
            {"messages": [A]},  # nothing to ask
            {"messages": [U, {"role": "assistant", "content": 3}]},
        ],
        raw="\nnot json\n",
    )
    got = list(questions.read(folder / "test.jsonl"))
    assert [type(g).__name__ for g in got] == ["Question", "Unusable", "Question", "Unusable", "Unusable", "Unusable"]
    first, _, open_ended, *_ = got
    assert (first.messages, first.reference, first.system, first.text) == (
        [S, U],
        A["content"],
        S["content"],
        U["content"],
    )
    assert (open_ended.messages, open_ended.reference, open_ended.text, open_ended.line) == (
        [U, A, U2],
        None,
        U2["content"],
        3,
    )
    assert got[1].message == "a completions record in a chat file" and got[-1].line == 7
    assert got[-1].where.endswith("test.jsonl:7")

    # the chat skips what cannot be asked; the task score stops at it, saying where
    assert [(p.prompt, p.reference) for p in test_prompts.load(folder)] == [
        (U["content"], A["content"]),
        (U2["content"], None),
    ]
    with pytest.raises(TuneDeckError) as err:
        read_examples(str(folder))
    assert err.value.where.endswith("test.jsonl:2") and "completions record in a chat file" in err.value.message
    assert [e.reference for e in read_examples(str(folder), limit=1)] == [A["content"]]


def test_reader_reads_completions_and_text_and_refuses_bad_bytes(tmp_path):
    folder = _split(tmp_path, [{"prompt": P, "completion": C, "messages": [U, A]}])
    [example] = read_examples(str(folder))
    assert example.messages == [{"role": "user", "content": P}] and example.reference == C and example.context == P
    (tmp_path / "test.jsonl").write_bytes(json.dumps({"text": T}).encode() + b"\n" + b'{"text": "caf\xe9"}\n')
    [text, bad] = questions.read(tmp_path / "test.jsonl")
    assert text.messages == [{"role": "user", "content": T}] and text.reference is None
    assert bad.message == "not valid UTF-8" and bad.line == 2
    with pytest.raises(TuneDeckError, match="no test split"):
        questions.split_file(tmp_path / "missing")
