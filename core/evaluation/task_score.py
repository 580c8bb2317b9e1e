"""Task score: generate greedy answers for the test split and grade them.

Loss says how surprised the model is by the reference; the question a user
asks is "does it answer right?". So each test prompt is answered greedily
and graded three ways:

- exact match after normalisation (case, whitespace, trailing semicolon,
  quote style, a Markdown code fence around the answer);
- for text-to-SQL (the prompt holds ``CREATE TABLE`` statements): is the
  generated SQL valid against that schema, run in an in-memory SQLite;
- execution match: does it return the same rows as the reference query on
  a few synthetic rows filled in from the schema and the queries' literals.

The grading functions are pure Python (no MLX); ``score_model`` generates
and must run on the MLX worker thread.
"""

from __future__ import annotations

import random
import re
import sqlite3
from dataclasses import asdict, dataclass, field

from core.chat.generation import prompt_tokens
from core.data import questions
from core.runtime.errors import Cancelled, TuneDeckError

# Imported where used, not at module level (import cost, 2 cores): mlx_lm ~3 s

# -- normalisation and exact match ------------------------------------------

_FENCE = re.compile(r"^```[\w-]*\s*\n?(.*?)\n?```$", re.S)


def normalise(text: str) -> str:
    """Forgive what does not change the answer's meaning."""
    text = text.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    text = text.replace('"', "'").replace("`", "")
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s*;+\s*$", "", text)
    text = re.sub(r"\s*([(),=<>])\s*", r"\1", text)  # "COUNT( * )" == "COUNT(*)"
    return text.lower()


def exact_match(generated: str, reference: str) -> bool:
    return normalise(generated) == normalise(reference)


# -- SQL against the example's schema ----------------------------------------


def create_statements(text: str) -> list[str]:
    """Every ``CREATE TABLE ... (...)`` in ``text``, parentheses balanced."""
    found = []
    for start in (m.start() for m in re.finditer(r"CREATE\s+TABLE\b", text, re.I)):
        depth, i = 0, start
        while i < len(text):
            if text[i] == "(":
                depth += 1
            elif text[i] == ")":
                depth -= 1
                if depth == 0:
                    found.append(text[start : i + 1])
                    break
            i += 1
    return found


def _literals(sql: str) -> tuple[list[str], list[float]]:
    strings = [s.replace("''", "'") for s in re.findall(r"'((?:[^']|'')*)'", sql)]
    bare = re.sub(r"'(?:[^']|'')*'", " ", sql)
    numbers = [float(n) for n in re.findall(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])", bare)]
    return strings, [n for n in numbers if abs(n) < 1e15]  # SQLite integers are 64-bit


def _deny_files(action, *_args):
    # The generated SQL is untrusted: no ATTACH (it would create files).
    return sqlite3.SQLITE_DENY if action == sqlite3.SQLITE_ATTACH else sqlite3.SQLITE_OK


def _database(schema: list[str], queries: list[str], seed: int, rows: int = 24) -> sqlite3.Connection:
    """An in-memory SQLite with the schema and a few rows whose values come
    from the queries' literals (so WHERE clauses can match) and a seeded RNG."""
    db = sqlite3.connect(":memory:")
    for statement in schema:
        db.execute(statement)
    strings, numbers = [], []
    for q in queries:
        s, n = _literals(q)
        strings += s
        numbers += n
    r = random.Random(seed)
    for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
        cols = db.execute(f'PRAGMA table_info("{table}")').fetchall()
        for _ in range(rows):
            values = []
            for col in cols:
                kind = (col[2] or "").upper()
                if any(t in kind for t in ("INT", "REAL", "FLOA", "DOUB", "NUM", "DEC")):
                    pool = numbers + [r.randint(0, 100) for _ in range(3)]
                    value = r.choice(pool)
                    values.append(int(value) if "INT" in kind and float(value).is_integer() else value)
                else:
                    values.append(r.choice(strings + [f"v{r.randint(0, 9)}"]))
            marks = ", ".join("?" for _ in cols)
            db.execute(f'INSERT INTO "{table}" VALUES ({marks})', values)
    db.set_authorizer(_deny_files)
    # Untrusted SQL must not run forever (a recursive CTE would): abort after
    # a few million VM steps.
    steps = [0]

    def budget():
        steps[0] += 1
        return 1 if steps[0] > 2000 else 0

    db.set_progress_handler(budget, 1000)
    return db


def _run(db: sqlite3.Connection, sql: str):
    """Rows, or None if SQLite rejects the statement (or there is none)."""
    if not re.sub(r"--[^\n]*|/\*.*?\*/|;", "", sql, flags=re.S).strip():
        return None  # SQLite happily "runs" an empty string
    try:
        return db.execute(sql).fetchall()
    except (sqlite3.Error, sqlite3.Warning, ValueError, OverflowError):
        return None


def _sql_text(answer: str) -> str:
    text = answer.strip()
    fenced = _FENCE.match(text)
    return (fenced.group(1) if fenced else text).strip()


@dataclass
class SQLCheck:
    valid: bool
    execution_match: bool | None  # None: the reference itself does not run


def check_sql(generated: str, reference: str, context: str, seed: int = 0) -> SQLCheck | None:
    """Grade generated SQL against the schema in ``context`` (None: no schema)."""
    schema = create_statements(context)
    if not schema:
        return None
    gen, ref = _sql_text(generated), _sql_text(reference)
    try:
        db = _database(schema, [gen, ref], seed)
    except sqlite3.Error:
        return None  # the schema itself is not SQLite: nothing to check against
    try:
        got = _run(db, gen)
        want = _run(db, ref)
    finally:
        db.close()
    if got is None:
        return SQLCheck(valid=False, execution_match=False if want is not None else None)
    if want is None:
        return SQLCheck(valid=True, execution_match=None)
    ordered = re.search(r"\border\s+by\b", ref, re.I) is not None
    same = got == want if ordered else sorted(map(repr, got)) == sorted(map(repr, want))
    return SQLCheck(valid=True, execution_match=same)


# -- test examples: prompt + reference ----------------------------------------


@dataclass
class Example:
    messages: list[dict]  # the prompt, as chat messages
    reference: str
    context: str  # the text searched for CREATE TABLE


def read_examples(data: str, limit: int | None = None, split: str = "test") -> list[Example]:
    """Prompts and reference answers from ``<split>.jsonl`` (chat or completions);
    the first line that has none stops the reading with a TuneDeckError."""
    path = questions.split_file(data, split, f"add a {split} split to score the task")
    out: list[Example] = []
    for item in questions.read(path):
        if limit is not None and len(out) >= limit:
            break
        if isinstance(item, questions.Unusable):
            raise TuneDeckError(item.message, item.fix, where=item.where)
        if item.kind == "text":
            raise TuneDeckError(
                "the task score needs a prompt and a reference answer (chat or completions "
                "data); plain text examples have neither",
                "test loss and perplexity still work for text data",
                where=item.where,
            )
        if item.reference is None:
            raise TuneDeckError(
                "a chat example needs a prompt and an assistant answer to score",
                "end each example with the assistant's reference answer",
                where=item.where,
            )
        context = "\n".join(m["content"] for m in item.messages)
        out.append(Example(item.messages, item.reference, context))
    if not out:
        raise TuneDeckError(f"{path} has no examples", "add test examples")
    return out


# -- scoring a model ----------------------------------------------------------


@dataclass
class Answer:
    question: str
    reference: str
    generated: str
    exact: bool
    valid_sql: bool | None
    execution_match: bool | None


@dataclass
class TaskScore:
    n: int = 0
    exact: int = 0
    sql_n: int = 0  # examples with a schema
    valid_sql: int = 0
    exec_n: int = 0  # examples whose reference query runs
    exec_match: int = 0
    answers: list[Answer] = field(default_factory=list)

    def add(self, answer: Answer) -> None:
        self.n += 1
        self.exact += answer.exact
        if answer.valid_sql is not None:
            self.sql_n += 1
            self.valid_sql += answer.valid_sql
        if answer.execution_match is not None:
            self.exec_n += 1
            self.exec_match += answer.execution_match
        self.answers.append(answer)

    def rates(self) -> dict:
        def rate(k, n):
            return k / n if n else None

        return {
            "exact_match": rate(self.exact, self.n),
            "valid_sql": rate(self.valid_sql, self.sql_n),
            "execution_match": rate(self.exec_match, self.exec_n),
        }

    def to_dict(self, keep_answers: int = 5) -> dict:
        d = asdict(self)
        d["answers"] = d["answers"][:keep_answers]
        return {**d, **self.rates()}


def grade(generated: str, example: Example, seed: int = 0) -> Answer:
    sql = check_sql(generated, example.reference, example.context, seed)
    return Answer(
        question=example.messages[-1]["content"],
        reference=example.reference,
        generated=generated.strip(),
        exact=exact_match(generated, example.reference),
        valid_sql=None if sql is None else sql.valid,
        execution_match=None if sql is None else sql.execution_match,
    )


def greedy_answer(model, tokenizer, messages: list[dict], max_tokens: int, ctx=None) -> str:
    """The model's greedy answer (stops at end of turn or ``max_tokens``)."""
    from mlx_lm import stream_generate
    from mlx_lm.sample_utils import make_sampler

    parts = []
    for response in stream_generate(
        model, tokenizer, prompt_tokens(tokenizer, messages), max_tokens=max_tokens, sampler=make_sampler(temp=0.0)
    ):
        parts.append(response.text)
        if ctx is not None and ctx.cancelled:
            raise Cancelled()
    return "".join(parts)


def score_examples(ctx, examples: list[Example], answer, label: str) -> TaskScore:
    """Grade ``answer(example) -> str`` (the model's reply) on each example."""
    score = TaskScore()
    for i, example in enumerate(examples):
        ctx.progress(f"{label}: answering test questions", i, len(examples))
        ctx.check_cancelled()
        score.add(grade(answer(example), example, seed=i))
    ctx.progress(f"{label}: answering test questions", len(examples), len(examples))
    return score


def score_model(ctx, model, tokenizer, examples: list[Example], label: str) -> TaskScore:
    def answer(example: Example) -> str:
        # An answer much longer than the reference is wrong anyway; the cap
        # keeps an untrained model that never stops from taking minutes.
        budget = min(256, 2 * len(tokenizer.encode(example.reference)) + 16)
        return greedy_answer(model, tokenizer, example.messages, budget, ctx)

    return score_examples(ctx, examples, answer, label)
