"""Task-score grading, by hand: normalisation, SQL validity, execution match."""

import json
from pathlib import Path

import pytest

from core.evaluation.task_score import (
    check_sql,
    create_statements,
    exact_match,
    normalise,
    read_examples,
    score_examples,
)
from core.runtime.errors import TuneDeckError

PLAYERS = "CREATE TABLE players (player VARCHAR, team VARCHAR(40), goals INTEGER)"
SYSTEM = f"Translate questions to SQL.\nSCHEMA:\n{PLAYERS}"


@pytest.mark.parametrize(
    "generated, reference",
    [
        ("  SELECT  player FROM players ;  ", "SELECT player FROM players"),
        ("select player\nfrom players;;", "SELECT player FROM players"),
        ('SELECT a FROM t WHERE b = "x"', "SELECT a FROM t WHERE b = 'x'"),
        ("```sql\nSELECT COUNT( * ) FROM t\n```", "SELECT COUNT(*) FROM t"),
        ("4", " 4 "),
    ],
)
def test_exact_match_forgives_form(generated, reference):
    assert exact_match(generated, reference)


@pytest.mark.parametrize(
    "generated, reference",
    [
        ("SELECT team FROM players", "SELECT player FROM players"),
        ("SELECT player FROM players WHERE goals > 1", "SELECT player FROM players WHERE goals > 10"),
        ("", "SELECT player FROM players"),
    ],
)
def test_exact_match_still_tells_answers_apart(generated, reference):
    assert not exact_match(generated, reference)


def test_normalise_is_what_the_docs_say():
    assert normalise('  SELECT "A"  FROM T ; ') == "select 'a' from t"


def test_create_statements_balance_parentheses():
    text = f"intro\n{PLAYERS}\nand CREATE TABLE cities (city VARCHAR, pop INTEGER) end"
    assert create_statements(text) == [PLAYERS, "CREATE TABLE cities (city VARCHAR, pop INTEGER)"]
    assert create_statements("no schema here") == []


def test_sql_checks_against_the_schema():
    ref = "SELECT player FROM players WHERE goals > 20"
    ok = check_sql("select player from players where goals > 20", ref, SYSTEM)
    assert ok.valid and ok.execution_match
    wrong_rows = check_sql("SELECT player FROM players WHERE goals < 20", ref, SYSTEM)
    assert wrong_rows.valid and wrong_rows.execution_match is False
    for bad in (
        "SELECT points FROM players",
        "SELECT player FROM teams",
        "SELEC player FROM players",
        "",
        "  ; ",
        "SELECT 1; SELECT 2",
    ):
        check = check_sql(bad, ref, SYSTEM)
        assert not check.valid and check.execution_match is False, bad
    assert check_sql("SELECT 1", "SELECT 1", "no schema") is None  # not text-to-SQL


def test_untrusted_sql_cannot_touch_files_or_run_forever(tmp_path):
    target = tmp_path / "x.db"
    assert not check_sql(f"ATTACH DATABASE '{target}' AS y", "SELECT 1", SYSTEM).valid
    assert not target.exists()
    forever = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c"
    assert not check_sql(forever, "SELECT 1", SYSTEM).valid


def _chat(question, answer, system=SYSTEM):
    msgs = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": question},
        {"role": "assistant", "content": answer},
    ]
    return {"messages": msgs}


# question -> (reference, the "model's" answer); graded by hand in the comments.
TINY = [
    # exact, valid, same rows
    (
        "Who scored 10 goals?",
        "SELECT player FROM players WHERE goals = 10",
        "select player from players where goals=10;",
    ),
    # not exact, valid, same rows (no NULL players)
    (
        "How many players are on the Oslo Lions?",
        "SELECT COUNT(*) FROM players WHERE team = 'Oslo Lions'",
        "SELECT COUNT(player) FROM players WHERE team = 'Oslo Lions'",
    ),
    # unknown column: invalid
    (
        "Which team has the most goals?",
        "SELECT team FROM players ORDER BY goals DESC LIMIT 1",
        "SELECT team FROM players ORDER BY points DESC LIMIT 1",
    ),
    # valid, different rows
    (
        "Who scored more than 20 goals?",
        "SELECT player FROM players WHERE goals > 20",
        "SELECT player FROM players WHERE goals < 20",
    ),
    # nothing generated: invalid
    ("List the teams", "SELECT DISTINCT team FROM players", ""),
]


def test_task_score_on_a_tiny_split(engine, tmp_path):
    rows = [_chat(q, ref) for q, ref, _ in TINY]
    # the schema in the question itself, no system prompt (mlx-lm reads a chat file's every line as chat)
    rows.append(
        _chat(
            "SCHEMA: CREATE TABLE cities (city VARCHAR, population INTEGER)\n"
            "Q: Name the cities with more than 5000 people",
            "SELECT city FROM cities WHERE population > 5000",
            system=None,
        )
    )
    rows.append(_chat("What is 2 + 2?", "4", system=None))
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    answers = {q: a for q, _, a in TINY}
    answers[
        "SCHEMA: CREATE TABLE cities (city VARCHAR, population INTEGER)\nQ: Name the cities with more than 5000 people"
    ] = "```sql\nSELECT city FROM cities WHERE population > 5000;\n```"  # exact, valid, same rows
    answers["What is 2 + 2?"] = " 4"  # exact; no schema, so no SQL checks

    examples = read_examples(str(tmp_path))
    assert len(examples) == 7
    score = engine.worker.submit(
        "score", score_examples, examples, lambda ex: answers[ex.messages[-1]["content"]], "hand"
    ).result(timeout=30)
    assert (score.n, score.exact, score.sql_n, score.valid_sql, score.exec_n, score.exec_match) == (7, 3, 6, 4, 6, 3)
    assert [a.exact for a in score.answers] == [True, False, False, False, False, True, True]
    assert [a.valid_sql for a in score.answers] == [True, True, False, True, False, True, None]
    assert [a.execution_match for a in score.answers] == [True, True, False, False, False, True, None]
    rates = score.rates()
    assert rates["exact_match"] == pytest.approx(3 / 7) and rates["valid_sql"] == pytest.approx(4 / 6)
    assert read_examples(str(tmp_path), limit=2)[1].reference == TINY[1][1]


def test_text_data_has_no_task_score_but_says_why(tmp_path):
    Path(tmp_path, "test.jsonl").write_text(json.dumps({"text": "Q: hi\nA: SELECT 1"}) + "\n")
    with pytest.raises(TuneDeckError) as err:
        read_examples(str(tmp_path))
    assert "plain text" in err.value.message and err.value.where.endswith("test.jsonl:1")
