"""The embedded sample dataset: text-to-SQL chat examples generated here.

Same shape as the seed recipe (b-mc2/sql-create-context mapped to chat): a
system message carrying a ``CREATE TABLE`` schema, an English question, and
the SQL answer. Everything is produced from templates with a seeded RNG, so
the data is reproducible, needs no network, and varies enough (random table
names, column subsets, values and phrasings) that a model cannot pass the
test split by memorising the train split.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from core.data.folder import write_splits

SYSTEM_PROMPT = (
    "You are an text to SQL query translator. Users will ask you questions in "
    "English and you will generate a SQL query based on the provided SCHEMA.\n"
    "SCHEMA:\n{schema}"
)

DEFAULT_COUNTS = {"train": 1000, "valid": 100, "test": 100}

_FIRST = [
    "Anna",
    "Ben",
    "Carla",
    "Dmitri",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kofi",
    "Lena",
    "Marco",
    "Nadia",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tara",
    "Uma",
    "Victor",
    "Wen",
    "Yusuf",
    "Zoe",
]
_LAST = [
    "Abe",
    "Brandt",
    "Costa",
    "Diaz",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ito",
    "Jensen",
    "Kim",
    "Lopez",
    "Moreau",
    "Novak",
    "Okafor",
    "Petrov",
    "Quist",
    "Rossi",
    "Sato",
    "Tanaka",
    "Ueda",
    "Vogel",
    "Weber",
    "Yilmaz",
    "Zhou",
]
_CITY = [
    "Austin",
    "Bergen",
    "Cairo",
    "Dakar",
    "Essen",
    "Fresno",
    "Geneva",
    "Hanoi",
    "Izmir",
    "Jaipur",
    "Kyoto",
    "Lima",
    "Malmo",
    "Nantes",
    "Oslo",
    "Porto",
    "Quito",
    "Riga",
    "Seoul",
    "Turin",
    "Utrecht",
    "Venice",
    "Warsaw",
    "Xiamen",
    "York",
    "Zagreb",
]
_MASCOT = [
    "Hawks",
    "Lions",
    "Rovers",
    "Comets",
    "Pilots",
    "Tigers",
    "Rangers",
    "Falcons",
    "Wolves",
    "Giants",
    "Sharks",
    "Bears",
]
_WORD = [
    "Blue",
    "Silent",
    "Golden",
    "Broken",
    "Hidden",
    "Wild",
    "Electric",
    "Quiet",
    "Burning",
    "Northern",
    "Paper",
    "Glass",
    "Velvet",
    "Iron",
    "Lonely",
    "Crimson",
]
_NOUN = [
    "River",
    "Garden",
    "Machine",
    "Harbor",
    "Mirror",
    "Engine",
    "Forest",
    "Signal",
    "Lantern",
    "Season",
    "Bridge",
    "Window",
    "Empire",
    "Circus",
    "Letter",
    "Orbit",
]


def _person(r: random.Random) -> str:
    return f"{r.choice(_FIRST)} {r.choice(_LAST)}"


def _title(r: random.Random) -> str:
    return f"{r.choice(_WORD)} {r.choice(_NOUN)}"


def _team(r: random.Random) -> str:
    return f"{r.choice(_CITY)} {r.choice(_MASCOT)}"


def _pick(options):
    return lambda r: r.choice(options)


def _int(lo, hi):
    return lambda r: r.randint(lo, hi)


def _real(lo, hi):
    return lambda r: round(r.uniform(lo, hi), 1)


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str  # VARCHAR | INTEGER | REAL
    value: object  # callable(Random) -> str | int | float

    @property
    def words(self) -> str:
        return self.name.replace("_", " ")

    @property
    def numeric(self) -> bool:
        return self.sql_type != "VARCHAR"


@dataclass(frozen=True)
class Domain:
    table: str
    entity: str  # plural noun used in questions ("players")
    columns: tuple


def _c(name, sql_type, value):
    return Column(name, sql_type, value)


DOMAINS = (
    Domain(
        "players",
        "players",
        (
            _c("player", "VARCHAR", _person),
            _c("team", "VARCHAR", _team),
            _c("position", "VARCHAR", _pick(["guard", "forward", "center", "goalkeeper", "defender", "striker"])),
            _c(
                "nationality",
                "VARCHAR",
                _pick(["Brazil", "Canada", "Egypt", "France", "Ghana", "Japan", "Kenya", "Norway", "Peru", "Spain"]),
            ),
            _c("goals", "INTEGER", _int(0, 60)),
            _c("games_played", "INTEGER", _int(1, 82)),
            _c("age", "INTEGER", _int(17, 41)),
        ),
    ),
    Domain(
        "albums",
        "albums",
        (
            _c("album", "VARCHAR", _title),
            _c("artist", "VARCHAR", _person),
            _c(
                "label", "VARCHAR", _pick(["Atlantic", "Domino", "Matador", "Sub_Pop", "Warp", "XL", "Island", "Merge"])
            ),
            _c("genre", "VARCHAR", _pick(["rock", "jazz", "folk", "pop", "techno", "soul", "blues", "metal"])),
            _c("year", "INTEGER", _int(1960, 2024)),
            _c("tracks", "INTEGER", _int(5, 24)),
            _c("sales", "INTEGER", _int(1000, 900000)),
        ),
    ),
    Domain(
        "matches",
        "matches",
        (
            _c("home_team", "VARCHAR", _team),
            _c("away_team", "VARCHAR", _team),
            _c("venue", "VARCHAR", lambda r: f"{r.choice(_CITY)} Stadium"),
            _c("crowd", "INTEGER", _int(500, 90000)),
            _c("home_score", "INTEGER", _int(0, 9)),
            _c("away_score", "INTEGER", _int(0, 9)),
            _c("round", "INTEGER", _int(1, 30)),
        ),
    ),
    Domain(
        "episodes",
        "episodes",
        (
            _c("title", "VARCHAR", _title),
            _c("directed_by", "VARCHAR", _person),
            _c("written_by", "VARCHAR", _person),
            _c("season_number", "INTEGER", _int(1, 12)),
            _c("series_number", "INTEGER", _int(1, 250)),
            _c("viewers_millions", "REAL", _real(0.5, 25.0)),
            _c(
                "original_air_date",
                "VARCHAR",
                lambda r: (
                    f"{r.choice(['January', 'March', 'May', 'July', 'September', 'November'])} "
                    f"{r.randint(1, 28)}, {r.randint(1990, 2023)}"
                ),
            ),
        ),
    ),
    Domain(
        "elections",
        "districts",
        (
            _c("district", "VARCHAR", lambda r: f"{r.choice(_CITY)} {r.randint(1, 20)}"),
            _c("incumbent", "VARCHAR", _person),
            _c("party", "VARCHAR", _pick(["Green", "Labour", "Liberal", "Republican", "Democratic", "Independent"])),
            _c("first_elected", "INTEGER", _int(1950, 2022)),
            _c("votes", "INTEGER", _int(1000, 250000)),
            _c("result", "VARCHAR", _pick(["re-elected", "retired", "defeated", "lost_primary"])),
        ),
    ),
    Domain(
        "cities",
        "cities",
        (
            _c("city", "VARCHAR", _pick(_CITY)),
            _c(
                "country",
                "VARCHAR",
                _pick(["Chile", "Denmark", "Estonia", "Finland", "Italy", "Mexico", "Poland", "Turkey", "Vietnam"]),
            ),
            _c("population", "INTEGER", _int(10000, 9000000)),
            _c("area_km2", "REAL", _real(10.0, 3000.0)),
            _c("mayor", "VARCHAR", _person),
            _c("founded", "INTEGER", _int(800, 1950)),
        ),
    ),
    Domain(
        "flights",
        "flights",
        (
            _c(
                "flight_number",
                "VARCHAR",
                lambda r: f"{r.choice(['AB', 'CD', 'EF', 'GH', 'KL', 'MN', 'TK'])}{r.randint(100, 9999)}",
            ),
            _c("origin", "VARCHAR", _pick(_CITY)),
            _c("destination", "VARCHAR", _pick(_CITY)),
            _c("airline", "VARCHAR", lambda r: f"{r.choice(_WORD)} Air"),
            _c("distance_km", "INTEGER", _int(150, 14000)),
            _c("passengers", "INTEGER", _int(20, 500)),
            _c("delay_minutes", "INTEGER", _int(0, 240)),
        ),
    ),
    Domain(
        "employees",
        "employees",
        (
            _c("name", "VARCHAR", _person),
            _c(
                "department",
                "VARCHAR",
                _pick(["sales", "finance", "legal", "research", "support", "marketing", "design"]),
            ),
            _c("title", "VARCHAR", _pick(["analyst", "engineer", "manager", "director", "intern", "designer"])),
            _c("salary", "INTEGER", _int(28000, 250000)),
            _c("hire_year", "INTEGER", _int(1995, 2024)),
            _c("office", "VARCHAR", _pick(_CITY)),
        ),
    ),
    Domain(
        "races",
        "races",
        (
            _c("grand_prix", "VARCHAR", lambda r: f"{r.choice(_CITY)} Grand Prix"),
            _c("winning_driver", "VARCHAR", _person),
            _c("pole_position", "VARCHAR", _person),
            _c("constructor", "VARCHAR", _pick(["Arrow", "Bolt", "Comet", "Dart", "Ember", "Flux"])),
            _c("laps", "INTEGER", _int(40, 80)),
            _c("year", "INTEGER", _int(1970, 2024)),
        ),
    ),
    Domain(
        "books",
        "books",
        (
            _c("book_title", "VARCHAR", _title),
            _c("author", "VARCHAR", _person),
            _c("publisher", "VARCHAR", lambda r: f"{r.choice(_NOUN)} Press"),
            _c("pages", "INTEGER", _int(80, 1200)),
            _c("published", "INTEGER", _int(1850, 2024)),
            _c("rating", "REAL", _real(1.0, 5.0)),
        ),
    ),
    Domain(
        "stations",
        "stations",
        (
            _c("station", "VARCHAR", lambda r: f"{r.choice(_NOUN)} Street"),
            _c("line", "VARCHAR", _pick(["red", "blue", "green", "orange", "purple", "yellow"])),
            _c("zone", "INTEGER", _int(1, 9)),
            _c("opened", "INTEGER", _int(1863, 2023)),
            _c("daily_riders", "INTEGER", _int(200, 120000)),
            _c("platforms", "INTEGER", _int(1, 12)),
        ),
    ),
    Domain(
        "products",
        "products",
        (
            _c(
                "product",
                "VARCHAR",
                lambda r: (
                    f"{r.choice(_WORD)} "
                    f"{r.choice(['Lamp', 'Chair', 'Kettle', 'Phone', 'Bike', 'Desk', 'Watch', 'Camera'])}"
                ),
            ),
            _c("brand", "VARCHAR", _pick(["Acme", "Boreal", "Cinder", "Delta", "Evergreen", "Fathom"])),
            _c("category", "VARCHAR", _pick(["kitchen", "office", "outdoor", "audio", "lighting", "sports"])),
            _c("price", "REAL", _real(2.0, 2500.0)),
            _c("stock", "INTEGER", _int(0, 5000)),
            _c("warranty_years", "INTEGER", _int(0, 5)),
        ),
    ),
)

# (question templates, SQL template). Placeholders: {a} selected column words,
# {b}/{c} condition column words, {v}/{w} their values, {n} numeric column
# words, {k} a threshold, {e} the entity, plus SQL names {A} {B} {C} {N} {T}.
_EQ = [
    "What is the {a} when the {b} is {v}?",
    "What {a} has a {b} of {v}?",
    "Which {a} corresponds to the {b} {v}?",
    "Tell me the {a} for {b} {v}",
    "Name the {a} where {b} is {v}",
    "What was the {a} when {b} was {v}?",
]
_COUNT = [
    "How many {e} have a {b} of {v}?",
    "How many {e} are there with {b} {v}?",
    "Count the {e} whose {b} is {v}",
    "What is the number of {e} where {b} is {v}?",
]
_AGG = {
    "MAX": [
        "What is the highest {n} when the {b} is {v}?",
        "Name the most {n} for {b} {v}",
        "What is the largest {n} with a {b} of {v}?",
    ],
    "MIN": [
        "What is the lowest {n} when the {b} is {v}?",
        "Name the least {n} for {b} {v}",
        "What is the smallest {n} with a {b} of {v}?",
    ],
    "AVG": ["What is the average {n} when the {b} is {v}?", "What was the mean {n} for {b} {v}?"],
    "SUM": ["What is the total {n} when the {b} is {v}?", "How much {n} in total for {b} {v}?"],
}
_AND = [
    "What is the {a} when the {b} is {v} and the {c} is {w}?",
    "Which {a} has a {b} of {v} and a {c} of {w}?",
    "Tell me the {a} for {b} {v} and {c} {w}",
]
_GT = [
    "Which {a} has a {n} greater than {k}?",
    "List the {a} for {e} with more than {k} {n}",
    "What {a} had a {n} above {k}?",
]
_LT = [
    "Which {a} has a {n} less than {k}?",
    "List the {a} for {e} with fewer than {k} {n}",
    "What {a} had a {n} below {k}?",
]
_TOP = [
    "Which {a} has the highest {n}?",
    "What is the {a} with the largest {n}?",
    "Name the {a} with the most {n}",
]
_BOTTOM = [
    "Which {a} has the lowest {n}?",
    "What is the {a} with the smallest {n}?",
]
_DISTINCT = [
    "List all the different {a} values",
    "What are the distinct {a} entries?",
]


def _sql_value(col: Column, value) -> str:
    if col.numeric:
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _table_name(r: random.Random, domain: Domain) -> str:
    # Half the time a WikiSQL-style opaque name, so the model must read the schema.
    if r.random() < 0.5:
        return f"table_{r.randint(10000, 29999999)}_{r.randint(1, 9)}"
    return f"{domain.table}_{r.randint(1, 999)}" if r.random() < 0.5 else domain.table


def make_example(r: random.Random) -> dict:
    """One chat example: {"messages": [system, user, assistant]}."""
    domain = r.choice(DOMAINS)
    cols = list(domain.columns)
    numeric = [c for c in cols if c.numeric]
    kind = r.choices(
        ["eq", "count", "agg", "and", "gt", "lt", "top", "bottom", "distinct"],
        weights=[26, 12, 16, 14, 8, 8, 6, 5, 5],
    )[0]
    r.shuffle(cols)
    a, b, c = cols[0], cols[1], cols[2]
    n = r.choice([x for x in numeric if x is not a] or numeric)
    v = b.value(r)
    w = c.value(r)
    k = n.value(r)
    table = _table_name(r, domain)
    words = {"a": a.words, "b": b.words, "c": c.words, "n": n.words, "e": domain.entity, "v": v, "w": w, "k": k}
    if kind == "eq":
        q, sql, used = r.choice(_EQ), f"SELECT {a.name} FROM {table} WHERE {b.name} = {_sql_value(b, v)}", [a, b]
    elif kind == "count":
        q, sql, used = r.choice(_COUNT), f"SELECT COUNT(*) FROM {table} WHERE {b.name} = {_sql_value(b, v)}", [b]
    elif kind == "agg":
        if b is n:
            b = next(x for x in cols if x is not n)
            words.update(b=b.words, v=(v := b.value(r)))
        fn = r.choice(list(_AGG))
        q, sql, used = (
            r.choice(_AGG[fn]),
            f"SELECT {fn}({n.name}) FROM {table} WHERE {b.name} = {_sql_value(b, v)}",
            [n, b],
        )
    elif kind == "and":
        q = r.choice(_AND)
        sql = f"SELECT {a.name} FROM {table} WHERE {b.name} = {_sql_value(b, v)} AND {c.name} = {_sql_value(c, w)}"
        used = [a, b, c]
    elif kind in ("gt", "lt"):
        if a is n:
            a = next(x for x in cols if x is not n)
            words["a"] = a.words
        op = ">" if kind == "gt" else "<"
        q = r.choice(_GT if kind == "gt" else _LT)
        sql, used = f"SELECT {a.name} FROM {table} WHERE {n.name} {op} {k}", [a, n]
    elif kind in ("top", "bottom"):
        if a is n:
            a = next(x for x in cols if x is not n)
            words["a"] = a.words
        order = "DESC" if kind == "top" else "ASC"
        q = r.choice(_TOP if kind == "top" else _BOTTOM)
        sql, used = f"SELECT {a.name} FROM {table} ORDER BY {n.name} {order} LIMIT 1", [a, n]
    else:
        q, sql, used = r.choice(_DISTINCT), f"SELECT DISTINCT {a.name} FROM {table}", [a]
    # Schema: the columns the query needs plus up to two distractors, shuffled.
    extra = [x for x in cols if x not in used]
    schema_cols = used + r.sample(extra, k=min(len(extra), r.randint(0, 2)))
    r.shuffle(schema_cols)
    schema = f"CREATE TABLE {table} (" + ", ".join(f"{x.name} {x.sql_type}" for x in schema_cols) + ")"
    question = q.format(**words)
    return {
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT.format(schema=schema)},
            {"role": "user", "content": question},
            {"role": "assistant", "content": sql},
        ]
    }


def generate(counts: dict | None = None, seed: int = 0) -> dict[str, list[dict]]:
    """Train/valid/test splits with no question repeated across splits."""
    counts = dict(DEFAULT_COUNTS if counts is None else counts)
    r = random.Random(seed)
    seen: set[str] = set()
    splits: dict[str, list[dict]] = {name: [] for name in counts}
    for name, count in counts.items():
        while len(splits[name]) < count:
            ex = make_example(r)
            key = ex["messages"][0]["content"] + "\n" + ex["messages"][1]["content"]
            if key in seen:
                continue
            seen.add(key)
            splits[name].append(ex)
    return splits


def write_sample(
    out_dir: str | Path, counts: dict | None = None, seed: int = 0, overwrite: bool = False
) -> dict[str, int]:
    """Write train/valid/test.jsonl (chat format) atomically; returns counts.
    ``overwrite``: an earlier TuneDeck dataset there may be replaced."""
    splits = generate(counts, seed)
    manifest = {
        "source": "tunedeck sample (generated text-to-SQL)",
        "format": "chat",
        "preset": "text-to-sql",
        "seed": seed,
    }
    write_splits(out_dir, splits, manifest, overwrite=overwrite)
    return {k: len(v) for k, v in splits.items()}


def corpus_text(seed: int = 0, n: int = 3000) -> list[str]:
    """Plain strings for training the demo tokenizer (a separate seed stream)."""
    r = random.Random(seed + 7919)
    out = []
    for _ in range(n):
        out.extend(m["content"] for m in make_example(r)["messages"])
    return out
