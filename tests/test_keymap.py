"""The user's keymap: config entries checked against the declared binding
ids, applied through Textual's keymap, shown in the footer; the README's
table of binding ids is the one the code declares."""

import asyncio
import importlib
import json
import pkgutil
import re
from pathlib import Path

from textual.binding import Binding
from ui_helpers import at_step, screen_text, wait_for

from core.runtime import paths
from tui import keymap

README = Path(__file__).resolve().parent.parent / "README.md"


def table_rows() -> list[str]:
    return [
        f"| `{b.id}` | {', '.join(f'`{k}`' for k in b.keys)} | {b.description} | {where} |"
        for b, where in keymap.binding_table()
    ]


def test_the_readme_lists_every_binding_id():
    text = README.read_text(encoding="utf-8")
    block = re.search(r"<!-- binding ids -->\n(.*?)\n<!-- /binding ids -->", text, re.S)
    assert block, "README.md lost its <!-- binding ids --> table"
    expected = ["| binding id | default keys | what | where |", "|---|---|---|---|", *table_rows()]
    assert block[1].splitlines() == expected, "paste this table into README.md:\n" + "\n".join(expected)


def test_every_binding_tunedecks_classes_declare_has_an_id():
    import tui.app

    modules = [tui.app] + [
        importlib.import_module(f"{package}.{info.name}")
        for package in ("tui.screens", "tui.widgets")
        for info in pkgutil.iter_modules(importlib.import_module(package).__path__)
    ]
    declared = [
        (klass.__name__, binding)
        for module in modules
        for klass in vars(module).values()
        if isinstance(klass, type) and klass.__module__ == module.__name__
        for binding in vars(klass).get("BINDINGS", ())
    ]
    assert len(declared) >= 70
    assert not [(name, b) for name, b in declared if not (isinstance(b, Binding) and b.id)]


def test_good_entries_apply_and_a_swap_is_no_clash():
    applied, problems = keymap.check({"next-step": "b", "back-step": "n", "toggle-guide": "?,f9"}, "CONFIG")
    assert problems == []
    assert applied == {"next-step": "b", "back-step": "n", "toggle-guide": "question_mark,f9"}


def test_each_bad_entry_is_named_with_its_fix_and_the_rest_apply():
    applied, problems = keymap.check(
        {
            "nxt-step": "ctrl+n",
            "quit": "",
            "recheck": 5,
            "toggle-guide": "ctrl+frob",
            "new-chat": "ctrl+s",
            "goto-env": "f12",
        },
        "CONFIG",
    )
    assert applied == {"goto-env": "f12"}
    assert len(problems) == 5 and all(
        p.endswith("Fix it in CONFIG (the README lists the binding ids).") for p in problems
    )
    said = "\n".join(problems)
    assert "Keymap entry 'nxt-step': no binding has this id." in said
    assert "Keymap entry 'quit': give its keys as a string" in said
    assert "Keymap entry 'recheck': give its keys as a string" in said
    assert "Keymap entry 'toggle-guide': 'ctrl+frob' is not a key Textual knows" in said
    assert "Keymap entry 'new-chat': 'ctrl+s' is also 'Save' (save-transcript) on the Chat screen" in said


def test_a_dropped_entry_frees_nothing_it_did_not_take():
    # next-step may not take ctrl+s on the Chat screen (Save): dropping it gives
    # n back to next-step, which back-step asked for: that one is dropped too.
    applied, problems = keymap.check({"next-step": "ctrl+s", "back-step": "n"}, "CONFIG")
    assert applied == {}
    assert [p.split(":")[0] for p in problems] == ["Keymap entry 'next-step'", "Keymap entry 'back-step'"]


def test_a_keymap_that_is_not_a_mapping_is_one_message():
    applied, problems = keymap.check(["next-step", "ctrl+n"], "CONFIG")
    assert applied == {} and problems[0].startswith("The keymap must map binding ids to keys")


def test_the_footer_shows_the_users_keys_and_bad_entries_are_notified():
    config = {"keymap": {"next-step": "ctrl+right", "recheck": "f9", "typo": "x"}}
    paths.config_file().write_text(json.dumps(config), encoding="utf-8")

    async def run():
        async with at_step("env") as (app, pilot, notes):
            await wait_for(pilot, lambda: notes, timeout=20)  # checked after the first paint
            assert app.keymap == {"next-step": "ctrl+right", "recheck": "f9"}
            active = app.screen.active_bindings
            assert active["ctrl+right"].binding.id == "next-step" and "n" not in active
            footer = screen_text(app).splitlines()[-1]
            assert "^→ Next" in footer and "f9 Re-check" in footer, footer
            assert [n.title for n in notes] == ["Keymap entry skipped"]
            assert "Keymap entry 'typo': no binding has this id" in notes[0].message
            assert str(paths.config_file()) in notes[0].message
            await pilot.press("n")  # no longer next-step's key
            assert app.current_mode == "env"
            await pilot.press("ctrl+right")
            assert app.current_mode == "model"

    try:
        asyncio.run(run())
    finally:
        paths.config_file().unlink()
