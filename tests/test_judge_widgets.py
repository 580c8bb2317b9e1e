"""The Judge & ship screen's widgets, each mounted alone in a tiny app."""

import asyncio

import pytest
from textual.widgets import DataTable
from ui_helpers import Alone

from tui.session import Session
from tui.widgets.judge.artefacts import Artefacts, ArtefactsPanel, fused_dir, short
from tui.widgets.judge.table import JudgeTable


def _row(label, loss, exact=None):
    task = (
        None if exact is None else {"exact_match": exact, "valid_sql": 1.0, "execution_match": None, "n": 4, "sql_n": 4}
    )
    return {"label": label, "test_loss": loss, "test_ppl": 2.0**loss, "task": task}


def test_judge_table_fills_row_by_row_and_gives_its_verdict():
    async def run():
        table = JudgeTable()
        async with Alone(table).run_test(size=(80, 10)) as pilot:
            verdict = table.query_one("#verdict")
            table.add_row(_row("base", 2.0, 0.25))
            await pilot.pause()
            assert table.query_one(DataTable).row_count == 1 and str(verdict.content) == ""
            table.show_status("judging tuned 1/4")
            assert str(verdict.content) == "judging tuned 1/4…"
            table.add_row(_row("tuned", 1.5, 0.75))
            await pilot.pause()
            assert table.query_one(DataTable).row_count == 2
            assert str(verdict.content) == (
                "✓ tuned is better: test loss 2.000 → 1.500 · exact 25% → 75% · valid SQL 100% → 100%"
            )
            table.show_rows([_row("base", 1.0), _row("tuned", 1.2)])
            await pilot.pause()
            assert str(verdict.content).startswith("✗ tuning did not help")
            table.show_rows([])
            assert table.query_one(DataTable).row_count == 0 and table.rows == {}

    asyncio.run(run())


def test_artefacts_panel_names_the_adapter_the_fused_folder_and_lm_studio(tmp_path):
    run = tmp_path / "run"
    for name in ("adapters", "best"):
        (run / name).mkdir(parents=True)
        (run / name / "adapters.safetensors").write_bytes(b"")
    (run / "events.jsonl").write_text("")
    session = Session(model_path=str(tmp_path / "qwen"), adapter_path=str(run / "adapters"), run_dir=str(run))
    session.lmstudio_root = str(tmp_path / "lms")

    async def run_app():
        panel = ArtefactsPanel()
        async with Alone(panel).run_test(size=(80, 10)) as pilot:
            panel.show(Artefacts(Session()))
            await pilot.pause()
            assert str(panel.content).splitlines()[1:3] == [
                "adapter none yet (train on step 4)",
                "fused: nothing to fuse yet",
            ]
            panel.show(Artefacts(session, "best"))
            await pilot.pause()
            lines = str(panel.content).splitlines()
            assert lines[1] == "run run · adapter best · a: last"
            assert lines[2] == f"fused: not yet (f fuses the best adapter into {short(run / 'fused')})"
            assert lines[3].startswith("LM Studio: ") and lines[3].endswith("(made on export) · o: folder")
            (run / "fused").mkdir()  # someone else's folder in the way
            panel.show(Artefacts(session))
            await pilot.pause()
            assert "is not a TuneDeck fused model (f will not replace it)" in str(panel.content)

    asyncio.run(run_app())
    assert fused_dir(str(run / "adapters")) == run / "fused"
    assert fused_dir(str(tmp_path / "loose")) == tmp_path / "loose-fused"
    assert Artefacts(session).has_adapter("best") and not Artefacts(Session()).has_adapter("last")


def test_task_count_reads_a_count_blank_for_all_and_refuses_the_rest():
    from textual.widgets import Input

    from tui.widgets.judge.task_count import TaskCount

    async def run():
        row = TaskCount()
        async with Alone(row).run_test(size=(80, 3)):
            box = row.query_one("#task-n", Input)
            assert row.count() == 20
            for typed, n in (("0", 0), ("", None), (" all ", None), ("7", 7)):
                box.value = typed
                assert row.count() == n
            box.value = "-3"
            with pytest.raises(ValueError, match="'-3' is not a count.*blank for all"):
                row.count()

    asyncio.run(run())
