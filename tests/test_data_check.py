"""A corpus of broken data folders: each problem reported at file:line."""

import json

import pytest

from core.data_check import check_folder

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
    ("blank line", [GOOD, GOOD, "", GOOD], 3, "blank line"),
    ("not an object", [GOOD, "[1, 2]"], 2, "not an object"),
    ("unknown format", [GOOD, json.dumps({"question": "q"})], 2, "unknown format"),
    ("mixed formats", [GOOD, GOOD, json.dumps({"text": "t"})], 3, "text record in a chat file"),
    ("bad role", [json.dumps({"messages": [{"role": "human", "content": "q"}, {"role": "assistant", "content": "a"}]})], 1, "role 'human'"),
    ("no assistant", [GOOD, json.dumps({"messages": [{"role": "user", "content": "q"}]})], 2, "no assistant turn"),
    ("non-string content", [json.dumps({"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "a"}]})], 1, "not a string"),
    ("empty content", [json.dumps({"messages": [{"role": "user", "content": " "}, {"role": "assistant", "content": "a"}]})], 1, "empty content"),
    ("empty completion", [json.dumps({"prompt": "p", "completion": ""})], 1, "'completion' is empty"),
    ("late system", [json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}]})], 1, "system message appears after"),
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
