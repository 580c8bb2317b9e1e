import json
from pathlib import Path

from core.models.demo_model import is_demo_model


def test_demo_model_layout(demo_model):
    folder = Path(demo_model)
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        assert (folder / name).is_file(), name
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "qwen2"
    assert "chat_template" in json.loads((folder / "tokenizer_config.json").read_text())
    assert is_demo_model(folder)


def test_mlx_lm_loads_it_and_applies_the_chat_template(engine, demo_model):
    def probe():
        from mlx_lm import load

        model, tok = load(demo_model)
        msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "SELECT name FROM t"}]
        text = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
        ids = tok.encode("SELECT name FROM table_1 WHERE x = 'y'")
        return len(model.layers), text, tok.decode(ids), len(ids), tok.eos_token

    layers, text, roundtrip, n_ids, eos = engine.worker.call(probe)
    assert layers == 2
    assert (
        text
        == "<|im_start|>system\ns<|im_end|>\n<|im_start|>user\nSELECT name FROM t<|im_end|>\n<|im_start|>assistant\n"
    )
    assert roundtrip == "SELECT name FROM table_1 WHERE x = 'y'"
    assert n_ids < 20  # the tokenizer was trained on SQL: words are few tokens
    assert eos == "<|im_end|>"
