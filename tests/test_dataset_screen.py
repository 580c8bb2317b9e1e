"""The data step at 80x24, driven by keyboard: source → map → split & write → check → tokens."""

import asyncio
import csv
import json

from textual.widgets import DataTable, Input, Select, Static
from ui_helpers import at_step, screen_text, text_of, wait_for

from tui.widgets.status_line import StatusLine


def write_csv(path, n=150):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["question", "context", "answer"])
        for i in range(n):
            w.writerow(
                [
                    f"How many rows have id {i}?",
                    f"CREATE TABLE t{i} (id INTEGER)",
                    f"SELECT COUNT(*) FROM t{i} WHERE id = {i}",
                ]
            )
    return path


def fits(screen, selector):
    region = screen.query_one(selector).region
    return region.height > 0 and region.bottom <= 24 and region.right <= 80


def test_build_a_csv_into_a_checked_folder_then_tokens(demo_model, tmp_path):
    src = write_csv(tmp_path / "qa.csv")
    out = tmp_path / "built"

    async def run():
        async with at_step("data", model_path=demo_model, pause=0.2) as (app, pilot, notes):
            screen = app.screen
            await pilot.press("down", "enter")  # "a file or folder"
            assert app.focused.id == "folder"
            screen.query_one("#folder", Input).value = str(src)
            await pilot.press("enter")
            await wait_for(pilot, lambda: screen.source is not None)
            await pilot.pause(0.2)
            # Raw rows, the suggested preset, rendered examples: on the Map tab.
            assert screen.query_one("#raw", DataTable).row_count == 6
            assert screen.query_one("#tabs").active == "tab-map"
            assert screen.query_one("#preset", Select).value == "text-to-sql"
            rendered = text_of(screen, "#rendered")
            assert "qa.csv:2" in rendered and "SCHEMA: ⏎ CREATE TABLE t0" in rendered
            assert fits(screen, "#map-body") and fits(screen, "#status")

            # A template naming an unknown column says which columns exist.
            screen.query_one("#tpl-user", Input).value = "{query}"
            await pilot.pause(0.1)
            assert "available columns: question, context, answer" in text_of(screen, "#rendered")
            screen.query_one("#tpl-user", Input).value = "Q: {question}"
            await pilot.pause(0.1)
            assert "user: Q: How many" in text_of(screen, "#rendered")

            await pilot.press("ctrl+n")  # → Split & write
            assert screen.query_one("#tabs").active == "tab-split" and app.focused.id == "sample"
            screen.query_one("#split", Input).value = "100,25,25"
            screen.query_one("#out", Input).value = str(out)
            await pilot.press("enter")  # Enter in the split fields writes
            await wait_for(pilot, lambda: app.session.data_dir == str(out))
            assert screen.query_one("#tabs").active == "tab-check"
            assert "train 100, valid 25, test 25" in text_of(screen, "#status")
            assert "user: Q: How many" in text_of(screen, "#preview")
            first = json.loads((out / "train.jsonl").read_text().splitlines()[0])
            assert first["messages"][1]["content"].startswith("Q: How many")

            # Token lengths with the model's tokenizer, masked prompt shown apart.
            screen.query_one("#max-seq", Input).value = "90"
            await pilot.press("ctrl+g")
            await wait_for(pilot, lambda: getattr(screen, "token_report", None))
            await pilot.pause(0.2)
            info = text_of(screen, "#token-info")
            assert "train: 100 rows" in info and "over 90" in info
            styles = {str(span.style) for span in screen.query_one("#token-preview", Static).content.spans}
            assert {"dim italic", "bold green"} <= styles
            assert screen.query_one("#token-plot").display
            assert screen.token_report.truncated > 0
            assert f"{screen.token_report.truncated} example(s) longer than 90" in text_of(screen, "#status")

            await pilot.press("n")
            assert app.current_mode == "train"

    asyncio.run(run())


def test_a_broken_folder_lists_file_and_line(tmp_path):
    d = tmp_path / "broken"
    d.mkdir()
    good = json.dumps({"text": "fine"})
    (d / "train.jsonl").write_text(f"{good}\n{{oops\n{good}\n[]\n")
    (d / "valid.jsonl").write_text(f"{good}\n")

    async def run():
        async with at_step("data", pause=0.2) as (app, pilot, notes):
            screen = app.screen
            await pilot.press("down", "enter")
            screen.query_one("#folder", Input).value = str(d)
            await pilot.press("enter")
            line = screen.query_one("#status", StatusLine)
            await wait_for(pilot, lambda: line.status.kind == "error")
            # The first bad line leads the status, through the one renderer: file:line, what, fix.
            status = line.status
            assert status.where == "broken/train.jsonl:2" and status.message.startswith("invalid JSON")
            assert status.message.endswith(" (the first of 2 errors)")
            assert status.hint.startswith("each line must be one complete JSON object")
            shown = screen_text(app)
            assert "✗ broken/train.jsonl:2: invalid JSON" in shown
            assert (
                "fix: each line must be one complete JSON object" in shown
                and "No dataset is chosen: training would fail." in shown
            )
            assert "broken/train.jsonl:2: error: invalid JSON" in text_of(screen, "#preview")
            assert app.session.data_dir is None
            await pilot.press("n")
            assert app.current_mode == "data"

    asyncio.run(run())


def test_rows_already_in_mlx_format_are_kept_as_they_are(tmp_path):
    src = tmp_path / "done.jsonl"
    src.write_text("".join(json.dumps({"prompt": f"p{i}", "completion": f"c{i}"}) + "\n" for i in range(10)))

    async def run():
        async with at_step("data", pause=0.2) as (app, pilot, notes):
            screen = app.screen
            await pilot.press("down", "enter")
            screen.query_one("#folder", Input).value = str(src)
            await pilot.press("enter")
            await wait_for(pilot, lambda: screen.source is not None)
            await pilot.pause(0.1)
            assert screen.query_one("#preset", Select).value == "as-is"
            assert screen.query_one("#tpl-user", Input).disabled
            assert "prompt: p" in text_of(screen, "#rendered")
            screen.query_one("#split", Input).value = "8,1,1"
            screen.query_one("#out", Input).value = str(tmp_path / "o")
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: app.session.data_dir)
            assert json.loads((tmp_path / "o" / "valid.jsonl").read_text())["prompt"].startswith("p")

    asyncio.run(run())


def test_a_source_that_fails_to_open_replaces_the_last_one(tmp_path):
    good = write_csv(tmp_path / "qa.csv", n=20)
    broken = tmp_path / "rows.jsonl"
    broken.write_text('{"question": "q", "answer": "a"}\n{"question": "oops", \n')

    async def run():
        async with at_step("data", pause=0.2) as (app, pilot, notes):
            screen = app.screen
            await pilot.press("down", "enter")
            screen.query_one("#folder", Input).value = str(good)
            await pilot.press("enter")
            await wait_for(pilot, lambda: screen.source is not None)
            # Every raw column fits at 80 columns.
            table = screen.query_one("#raw", DataTable)
            assert sum(col.get_render_width(table) for col in table.columns.values()) <= 80
            await pilot.press("ctrl+p")
            await pilot.press("enter")
            screen.query_one("#folder", Input).value = str(broken)
            await pilot.press("enter")
            await wait_for(pilot, lambda: "✗" in text_of(screen, "#status"))
            status = text_of(screen, "#status")
            assert f"{broken}:2: invalid JSON: the line ends before the record is complete" in status
            assert "fix: make every line one JSON object" in status
            assert not notes  # the status says it all: no toast over it
            # The good CSV's rows are gone: ctrl+r must not build them under the new error.
            assert screen.source is None and not table.display
            await pilot.press("ctrl+r")
            await pilot.pause(0.1)
            assert "✗" in text_of(screen, "#status")

    asyncio.run(run())
