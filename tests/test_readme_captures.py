"""The README capture blocks: found by their marker, compared line by line,
and rewritten in place (that block alone) on request. The screens themselves
are compared in tests/test_snapshots.py."""

from __future__ import annotations

import pytest
import readme_captures

README = """# App

Text before.

<!-- capture: one -->
```
 old screen
 line two
```

Between: `code` and a block that is no capture:

```
 keep me
```

<!-- capture: two -->
```
 second
```
After.
"""


def test_every_capture_in_the_readme_has_one_block():
    readme = readme_captures.README.read_text(encoding="utf-8")
    for name in ("environment", "model", "data", "train", "chat"):
        assert readme_captures.find(readme, name).count("\n") == 24  # one 80x24 screen


def test_a_capture_that_matches_passes_trailing_spaces_aside(tmp_path):
    path = tmp_path / "README.md"
    path.write_text(README, encoding="utf-8")
    readme_captures.check("one", " old screen   \n line two ", path)
    assert path.read_text(encoding="utf-8") == README


def test_a_changed_screen_fails_with_a_diff_and_the_update_command(tmp_path, monkeypatch):
    monkeypatch.delenv(readme_captures.UPDATE_VARIABLE, raising=False)
    path = tmp_path / "README.md"
    path.write_text(README, encoding="utf-8")
    with pytest.raises(AssertionError) as failed:
        readme_captures.check("one", " new screen\n line two", path)
    said = str(failed.value)
    assert "- old screen" in said and "+ new screen" in said
    assert "TUNEDECK_UPDATE_README=1 pytest tests/test_snapshots.py" in said
    assert path.read_text(encoding="utf-8") == README


def test_update_rewrites_that_block_alone(tmp_path, monkeypatch):
    monkeypatch.setenv(readme_captures.UPDATE_VARIABLE, "1")
    path = tmp_path / "README.md"
    path.write_text(README, encoding="utf-8")
    readme_captures.check("one", " new screen  \n\n line three", path)
    expected = README.replace(" old screen\n line two\n", " new screen\n\n line three\n")
    assert path.read_text(encoding="utf-8") == expected
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize(
    "readme", [README.replace("<!-- capture: two -->\n", ""), README + README], ids=["missing", "doubled"]
)
def test_a_missing_or_doubled_marker_is_named(readme, monkeypatch):
    monkeypatch.setenv(readme_captures.UPDATE_VARIABLE, "1")  # update mode cannot guess where either
    with pytest.raises(AssertionError, match="exactly one <!-- capture: two -->"):
        readme_captures.replace(readme, "two", " screen")
