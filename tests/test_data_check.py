"""A corpus of broken data folders: each problem reported at file:line."""

import json

import pytest

from core.data.check import check_folder

GOOD = json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})


def folder(tmp_path, train_lines, valid_lines=(GOOD,), raw: bytes | None = None):
    d = tmp_path / "d"
    d.mkdir(exist_ok=True)
    if raw is not None:
        (d / "train.jsonl").write_bytes(raw)
    else:
        (d / "train.jsonl").write_text("".join(line + "\n" for line in train_lines))
    if valid_lines is not None:
        (d / "valid.jsonl").write_text("".join(line + "\n" for line in valid_lines))
    (d / "test.jsonl").write_text(GOOD + "\n")
    return d


CASES = [
    ("invalid json", [GOOD, '{"messages": [', GOOD], 2, "invalid JSON"),
    ("cut-off line", [GOOD, '{"messages": [', GOOD], 2, "the line ends before the record is complete"),
    ("json column", [GOOD, '{"text": "a" "b"}'], 2, "invalid JSON at column 14: Expecting ',' delimiter"),
    ("blank line", [GOOD, GOOD, "", GOOD], 3, "blank line"),
    ("not an object", [GOOD, "[1, 2]"], 2, "not an object"),
    ("unknown format", [GOOD, json.dumps({"question": "q"})], 2, "unknown format"),
    ("mixed formats", [GOOD, GOOD, json.dumps({"text": "t"})], 3, "text record in a chat file"),
    (
        "bad role",
        [json.dumps({"messages": [{"role": "human", "content": "q"}, {"role": "assistant", "content": "a"}]})],
        1,
        "role 'human'",
    ),
    ("no assistant", [GOOD, json.dumps({"messages": [{"role": "user", "content": "q"}]})], 2, "no assistant turn"),
    (
        "non-string content",
        [json.dumps({"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "a"}]})],
        1,
        "not a string",
    ),
    (
        "empty content",
        [json.dumps({"messages": [{"role": "user", "content": " "}, {"role": "assistant", "content": "a"}]})],
        1,
        "empty content",
    ),
    ("empty completion", [json.dumps({"prompt": "p", "completion": ""})], 1, "'completion' is empty"),
    (
        "late system",
        [
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": "q"},
                        {"role": "system", "content": "s"},
                        {"role": "assistant", "content": "a"},
                    ]
                }
            )
        ],
        1,
        "system message appears after",
    ),
]


@pytest.mark.parametrize("name,lines,line_no,message", CASES, ids=[c[0] for c in CASES])
def test_broken_line_is_pointed_to(tmp_path, name, lines, line_no, message):
    report = check_folder(folder(tmp_path, lines))
    assert not report.ok
    problem = report.problems[0]
    assert problem.where == f"d/train.jsonl:{line_no}"
    assert message in problem.message
    assert problem.fix


def test_non_utf8(tmp_path):
    report = check_folder(folder(tmp_path, [], raw=(GOOD + "\n").encode() + b'{"text": "caf\xe9"}\n'))
    assert report.problems[0].where == "d/train.jsonl:2"
    assert "UTF-8" in report.problems[0].message


def test_missing_valid_is_a_warning_missing_train_an_error(tmp_path):
    report = check_folder(folder(tmp_path, [GOOD], valid_lines=None))
    assert report.ok and report.warnings == 1
    assert "valid.jsonl" in report.problems[0].where
    (tmp_path / "d" / "train.jsonl").unlink()
    report = check_folder(tmp_path / "d")
    assert not report.ok and report.problems[0].where == "d/train.jsonl"


def test_empty_train_file_and_missing_folder(tmp_path):
    report = check_folder(folder(tmp_path, []))
    assert not report.ok and "empty" in report.problems[0].message
    assert not check_folder(tmp_path / "nope").ok


def test_counts_all_problems_but_stores_a_bounded_number(tmp_path):
    report = check_folder(folder(tmp_path, ["{bad"] * 500))
    assert report.errors == 500 and len(report.problems) == 200


def test_empty_valid_or_test_file_is_an_error(tmp_path):
    d = folder(tmp_path, [GOOD])
    (d / "test.jsonl").write_text("")
    report = check_folder(d)
    assert not report.ok and report.problems[0].where == "d/test.jsonl"


def chat(*roles):
    return json.dumps({"messages": [{"role": r, "content": "x"} for r in roles]})


WARNINGS = [
    ("assistant first", chat("system", "assistant", "user", "assistant"), "first turn is the assistant"),
    ("two users", chat("user", "user", "assistant"), "two user turns in a row"),
    ("ends with user", chat("user", "assistant", "user"), "last message is user"),
]


@pytest.mark.parametrize("name,line,message", WARNINGS, ids=[w[0] for w in WARNINGS])
def test_role_order_warnings(tmp_path, name, line, message):
    report = check_folder(folder(tmp_path, [GOOD, line]))
    assert report.ok and report.warnings == 1 and report.splits["train"].rows == 2
    assert report.problems[0].where == "d/train.jsonl:2" and message in report.problems[0].message


def test_bare_carriage_return_splits_lines_like_mlx_lm(tmp_path):
    raw = (GOOD + "\n" + '{"text": "a\rb"}\n' + GOOD + "\r\n" + "[1]\n").encode()
    d = folder(tmp_path, [], raw=raw)
    report = check_folder(d)
    where = [(p.where, p.message) for p in report.problems]
    assert where[0][0] == "d/train.jsonl:2" and "bare carriage return" in where[0][1]
    assert where[1][0] == "d/train.jsonl:3" and "cut at line 2" in where[1][1]
    # mlx-lm reads the file with open(): the same line count, so line 5 is the array.
    with open(d / "train.jsonl") as fh:
        lines = list(fh)
    assert len(lines) == 5 and lines[4].startswith("[1]")
    assert where[2] == ("d/train.jsonl:5", "a JSON array, not an object")


def test_crlf_files_are_fine_and_bom_is_named(tmp_path):
    assert check_folder(folder(tmp_path, [], raw=(GOOD + "\r\n" + GOOD + "\r\n").encode())).ok
    report = check_folder(folder(tmp_path, [], raw=("\ufeff" + GOOD + "\n").encode()))
    assert report.problems[0].where == "d/train.jsonl:1" and "byte-order mark" in report.problems[0].message


def test_non_utf8_names_the_byte_and_goes_on(tmp_path):
    raw = b'{"text": "ok"}\n{"text": "caf\xe9"}\n{"text": "fine"}\n{"text": "\xff"}\n'
    report = check_folder(folder(tmp_path, [], raw=raw))
    assert [p.where for p in report.problems][:2] == ["d/train.jsonl:2", "d/train.jsonl:4"]
    assert "0xe9" in report.problems[0].message and report.splits["train"].rows == 2


def test_every_problem_in_a_file_is_found(tmp_path):
    lines = [GOOD] * 10
    lines[2], lines[5], lines[8] = "{", json.dumps({"prompt": "p"}), json.dumps({"text": 3})
    report = check_folder(folder(tmp_path, lines))
    assert [p.where for p in report.problems] == ["d/train.jsonl:3", "d/train.jsonl:6", "d/train.jsonl:9"]
    assert report.splits["train"].rows == 7


# -- inputs that used to crash the checker, and rows mlx-lm refuses mid-run ----
def msgs(content="q", **extra):
    return json.dumps(
        {"messages": [{"role": "user", "content": content}, {"role": "assistant", "content": "a"}], **extra}
    )


NEVER_CRASH = [
    ("nested 10,000 deep", '{"text": "t", "x": ' + "[" * 10_000 + "]" * 10_000 + "}", "nested too deeply"),
    ("huge integer", '{"text": "t", "n": ' + "9" * 5000 + "}", "number too long to read"),
    (
        "list as a role",
        json.dumps({"messages": [{"role": ["user"], "content": "q"}, {"role": "assistant", "content": "a"}]}),
        "role a list",
    ),
    (
        "object as a role",
        json.dumps({"messages": [{"role": {"a": 1}, "content": "q"}, {"role": "assistant", "content": "a"}]}),
        "role an object",
    ),
    ("tools a string", msgs(tools="get_weather"), "'tools' is a string, not a list"),
    ("tools of numbers", msgs(tools=[1, 2]), "'tools' is a list holding a number"),
    (
        "lone surrogate",
        msgs("caf\\ud800e").replace("\\\\ud800", "\\ud800"),
        "messages[0].content holds a lone surrogate",
    ),
    ("deep tools", msgs(tools=[json.loads("[" * 80 + "]" * 80)]), "nested more than 64 levels"),
    ("huge role", json.dumps({"messages": [{"role": "r" * 100_000, "content": "q"}]}), "has role 'rrrr"),
]


@pytest.mark.parametrize("name,line,message", NEVER_CRASH, ids=[c[0] for c in NEVER_CRASH])
def test_hostile_lines_are_problems_not_crashes(tmp_path, name, line, message):
    report = check_folder(folder(tmp_path, [GOOD, line]))
    assert not report.ok
    problem = report.problems[0]
    assert problem.where == "d/train.jsonl:2" and message in problem.message and problem.fix
    assert len(str(problem)) < 400  # a 100 kB value is cut, not echoed


def test_mask_prompt_is_checked_as_mlx_lm_applies_it(tmp_path):
    text = folder(tmp_path, [json.dumps({"text": "t"})])
    assert check_folder(text).ok
    report = check_folder(text, mask_prompt=True)
    assert not report.ok and "prompt masking" in report.problems[0].message
    lone = folder(tmp_path, [json.dumps({"messages": [{"role": "assistant", "content": "a"}]})])
    assert check_folder(lone).ok  # a warning: the first turn is the assistant's
    report = check_folder(lone, mask_prompt=True)
    assert not report.ok and "single message" in report.problems[0].message


def test_a_split_that_is_not_a_file_is_refused_without_opening_it(tmp_path):
    import os

    d = folder(tmp_path, [GOOD])
    (d / "valid.jsonl").unlink()
    (d / "valid.jsonl").mkdir()
    (d / "test.jsonl").unlink()
    os.mkfifo(d / "test.jsonl")  # opening a FIFO would block: mlx-lm does
    report = check_folder(d)
    assert not report.ok
    assert [p.where for p in report.problems] == ["d/valid.jsonl", "d/test.jsonl"]
    assert all("not a regular file" in p.message for p in report.problems)


def test_a_later_row_is_read_as_the_first_rows_format(tmp_path):
    # mlx-lm picks the dataset class from the first record and reads only its
    # keys: a chat row that also has prompt/completion is still a chat row.
    both = json.dumps({"messages": json.loads(GOOD)["messages"], "prompt": "p", "completion": "c"})
    assert check_folder(folder(tmp_path, [GOOD, both])).ok
    report = check_folder(folder(tmp_path, [GOOD, json.dumps({"prompt": "p", "completion": "c"})]))
    assert "completions record in a chat file" in report.problems[0].message


@pytest.fixture(scope="module")
def demo_tokenizer(demo_model):
    from core.data.token_stats import load_tokenizer

    return load_tokenizer(demo_model)


# Rows the checker used to pass and mlx-lm then refused mid-run; each is
# checked against mlx-lm's own loader, so the rule is mlx-lm's, not a copy.
MLX_LM_REFUSES = [
    ("tools a string", [msgs(tools="get_weather")], False),
    ("tools a number", [msgs(tools=3)], False),
    ("tools of strings", [msgs(tools=["weather"])], False),
    ("lone surrogate", [msgs("x").replace('"x"', '"\\ud800"')], False),
    ("lone low surrogate in text", ['{"text": "a\\udfffb"}'], False),
    ("text with prompt masking", [json.dumps({"text": "t"})], True),
    ("one message with prompt masking", [json.dumps({"messages": [{"role": "assistant", "content": "a"}]})], True),
]
MLX_LM_ACCEPTS = [
    ("tools a list of objects", [msgs(tools=[{"type": "function", "function": {"name": "f"}}])], True),
    ("tools null", [msgs(tools=None)], True),
    ("surrogate pair escape", [msgs("x").replace('"x"', '"\\ud83d\\ude00"')], True),
    ("deep nesting mlx-lm never reads", ['{"text": "t", "x": ' + "[" * 200 + "]" * 200 + "}"], False),
]


@pytest.mark.parametrize(
    "name,lines,mask", MLX_LM_REFUSES + MLX_LM_ACCEPTS, ids=[c[0] for c in MLX_LM_REFUSES + MLX_LM_ACCEPTS]
)
def test_checker_agrees_with_mlx_lm_loader(tmp_path, demo_tokenizer, name, lines, mask):
    from jsonl_fuzz import mlx_lm_loads

    d = folder(tmp_path, lines)
    try:
        mlx_lm_loads(d, demo_tokenizer, mask)
        mlx_lm_ok = True
    except Exception:
        mlx_lm_ok = False
    report = check_folder(d, mask_prompt=mask)
    assert report.ok == mlx_lm_ok == ((name, lines, mask) in MLX_LM_ACCEPTS)
    if not report.ok:
        assert report.problems[0].where == "d/train.jsonl:1"
