"""A training knob is declared once, on its ``TrainSettings`` field: a knob
added there alone is a CLI flag, a YAML key with its type and bounds
checked, and a field on the Train screen's form."""

import asyncio
from dataclasses import dataclass, fields

import pytest
from ui_helpers import text_of

import core.training.settings as settings_module
import tui.widgets.train_form as train_form
from core.runtime.errors import TuneDeckError
from core.training.knobs import FormPlace, knob
from core.training.settings import TrainSettings, load_yaml
from tui.app import make_app
from tui.cli import _parser
from tui.commands.train import settings_from_args


@dataclass
class WithWarmup(TrainSettings):
    warmup_steps: int = knob(0, help="steps of warm-up", low=0, cli=True, form=FormPlace("warmup", "warm-up", 15))


@pytest.fixture
def with_warmup(monkeypatch):
    """The new knob, seen wherever TrainSettings is looked up by name."""
    monkeypatch.setattr(settings_module, "TrainSettings", WithWarmup)
    monkeypatch.setattr(train_form, "TrainSettings", WithWarmup)


def test_every_setting_is_a_declared_knob_and_form_places_do_not_clash():
    knobs = TrainSettings.knobs()
    assert {k.key for k in knobs} >= {f.name for f in fields(TrainSettings)}  # none escapes the checks
    for group in ("grid", "switches"):
        places = [k.form.order for k in knobs if k.form and k.form.group == group]
        assert len(places) == len(set(places)), group
    grid = {k.form.order for k in knobs if k.form and k.form.group == "grid"}
    assert not grid & {train_form.PRESET_SLOT, train_form.SCHEDULE_SLOT}
    assert len({k.form.id for k in knobs if k.form}) == len([k for k in knobs if k.form])


def test_a_new_knob_is_a_cli_flag_with_its_bounds(with_warmup, tmp_path, capsys):
    args = _parser().parse_args(["train", "--model", str(tmp_path), "--data", str(tmp_path), "--warmup-steps", "5"])
    assert settings_from_args(args).warmup_steps == 5
    with pytest.raises(SystemExit):
        _parser().parse_args(["train", "--help"])
    assert "--warmup-steps WARMUP_STEPS" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        _parser().parse_args(["train", "--warmup-steps", "-1"])
    assert "argument --warmup-steps: must be a whole number of at least 0 (got '-1')" in capsys.readouterr().err


def test_a_new_knob_is_a_yaml_key_with_its_type_and_bounds_checked(with_warmup, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("iters: 10\nwarmup_steps: 3\n")
    assert load_yaml(config)["warmup_steps"] == 3
    for text, says in (
        ("warmup_steps: soon\n", "warmup_steps should be int, not str ('soon')"),
        ("warmup_steps: -3\n", "warmup_steps must be at least 0 (got -3)"),
    ):
        config.write_text("iters: 10\n" + text)
        with pytest.raises(TuneDeckError) as err:
            load_yaml(config)
        assert err.value.message == says and err.value.where == f"{config}:2"


def test_a_new_knob_is_a_form_field(with_warmup, demo_model, sample_data):
    async def run():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            app.session.model_path, app.session.data_dir = demo_model, sample_data
            app.go("train")
            await pilot.pause()
            screen = app.screen
            labels = [str(label.render()) for label in screen.query("#form Label")]
            assert labels[-1] == "warm-up"
            field = screen.query_one("#warmup")
            assert field.value == "0"  # filled from the defaults
            field.value = "7"
            await pilot.pause()
            assert screen.read_form().warmup_steps == 7
            field.value = "-2"
            await pilot.pause()
            assert "warmup_steps must be at least 0 (got -2)" in text_of(screen, "#config-error")

    asyncio.run(run())
