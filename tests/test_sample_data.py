import json
import sqlite3

from core.data import sample_data
from core.data.check import check_folder


def test_counts_and_determinism():
    a = sample_data.generate(seed=3)
    b = sample_data.generate(seed=3)
    c = sample_data.generate(seed=4)
    assert {k: len(v) for k, v in a.items()} == {"train": 1000, "valid": 100, "test": 100}
    assert a == b
    assert a != c


def test_shape_matches_the_seed_recipe():
    ex = sample_data.generate({"train": 1}, seed=0)["train"][0]
    roles = [m["role"] for m in ex["messages"]]
    assert roles == ["system", "user", "assistant"]
    system = ex["messages"][0]["content"]
    assert system.startswith("You are an text to SQL query translator.")
    assert "SCHEMA:\nCREATE TABLE " in system


def test_every_answer_is_valid_sql_against_its_schema():
    for rows in sample_data.generate(seed=0).values():
        for ex in rows:
            system, question, answer = (m["content"] for m in ex["messages"])
            db = sqlite3.connect(":memory:")
            db.execute(system.split("SCHEMA:\n", 1)[1])
            db.execute(answer)  # raises on a column or table the schema lacks


def test_varied_enough_not_to_memorise():
    splits = sample_data.generate(seed=0)
    train_q = {(e["messages"][0]["content"], e["messages"][1]["content"]) for e in splits["train"]}
    test_q = {(e["messages"][0]["content"], e["messages"][1]["content"]) for e in splits["test"]}
    assert not train_q & test_q  # no test example appears in train
    answers = {e["messages"][2]["content"] for e in splits["train"]}
    assert len(answers) > 950
    sqls = [e["messages"][2]["content"] for e in splits["train"]]
    for shape in ("SELECT COUNT(*)", "SELECT MAX(", "SELECT DISTINCT", " AND ", "ORDER BY", " > "):
        assert sum(shape in q for q in sqls) >= 20, shape


def test_written_folder_is_checked_clean(tmp_path):
    out = tmp_path / "data"
    counts = sample_data.write_sample(out, seed=1)
    assert counts == {"train": 1000, "valid": 100, "test": 100}
    report = check_folder(out)
    assert report.ok and report.errors == 0 and report.warnings == 0
    manifest = json.loads((out / "tunedeck.json").read_text())
    assert manifest["counts"]["train"] == 1000 and manifest["seed"] == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp leftovers
