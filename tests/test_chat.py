"""Chat generation on the demo model: streaming, stop reasons, stop strings,
sampling, test-split prompts and transcripts."""

import json

import pytest

from core.chat import transcript as tx
from core.chat.generation import Sampling, StopMatcher, TokenBatcher, describe_stop, prompt_tokens
from core.evaluation import test_prompts
from core.runtime import events as ev
from core.runtime.errors import TuneDeckError

QUESTION = [{"role": "user", "content": "Which team has the most goals?"}]


def tokens_of(recorder, job):
    return [e.text for e in recorder.of(ev.Token, job)]


def test_streamed_tokens_equal_the_non_streamed_greedy_output(engine, demo_model, recorder):
    job = engine.generate(demo_model, None, QUESTION, Sampling(max_tokens=40))
    done = job.result(timeout=60)
    streamed = tokens_of(recorder, job)
    assert len(streamed) > 1 and "".join(streamed) == done.text

    def reference():  # on the MLX thread, like everything that touches mlx
        from mlx_lm import generate, load

        model, tokenizer = load(demo_model)
        return generate(model, tokenizer, prompt_tokens(tokenizer, QUESTION), max_tokens=40)

    assert engine.worker.call(reference) == done.text
    # Events arrive in order: every token before the finish, the finish before the job's end.
    kinds = [type(e) for e in recorder.events if e.job_id == job.id]
    assert kinds.index(ev.GenerationFinished) > max(i for i, k in enumerate(kinds) if k is ev.Token)
    assert kinds[-1] is ev.JobFinished


def test_max_tokens_bounds_a_run_away_answer(engine, demo_model):
    # The untrained demo model never emits EOS within 12 tokens (greedy).
    done = engine.generate(demo_model, None, QUESTION, Sampling(max_tokens=12)).result(timeout=60)
    assert done.stop_reason == "max_tokens"
    assert done.generation_tokens == 12
    assert "hit max tokens (12)" in describe_stop(done.stop_reason, 12)
    assert "raise max tokens or train more" in describe_stop(done.stop_reason, 12)


def test_stop_string_spanning_tokens_cuts_the_answer(engine, demo_model, recorder, monkeypatch):
    from core.chat import generation

    monkeypatch.setattr(generation, "TOKEN_EVENT_SECONDS", 0.0)  # one Token event per token here
    job = engine.generate(demo_model, None, QUESTION, Sampling(max_tokens=30))
    full = job.result(timeout=60).text
    pieces = tokens_of(recorder, job)
    # A stop string made of the end of one streamed piece and the start of the next.
    i = next(i for i in range(1, len(pieces) - 1) if pieces[i] and pieces[i + 1])
    stop = pieces[i][-1:] + pieces[i + 1][:1]
    job = engine.generate(demo_model, None, QUESTION, Sampling(max_tokens=30, stop=(stop,)))
    done = job.result(timeout=60)
    assert done.stop_reason == "stop_string"
    assert done.text == full[: full.find(stop)]
    assert "".join(tokens_of(recorder, job)) == done.text and stop not in done.text


def test_stop_matcher_holds_back_possible_starts():
    m = StopMatcher(["END", "\n\n"])
    assert [m.feed(p) for p in ["SEL", "ECT 1 E", "N", "D more"]] == ["SEL", "ECT 1 ", "", ""]
    assert m.hit == "END"
    m = StopMatcher(["END"])
    assert m.feed("a E") == "a " and m.feed("Nx") == "ENx" and m.flush() == "" and m.hit is None
    m = StopMatcher(["END"])
    assert m.feed("xEN") == "x" and m.flush() == "EN"  # the stream ended: nothing is lost


def test_seed_makes_sampling_repeatable(engine, demo_model):
    s = Sampling(temperature=1.0, top_p=0.9, repetition_penalty=1.2, seed=7, max_tokens=16)
    a = engine.generate(demo_model, None, QUESTION, s).result(timeout=60).text
    b = engine.generate(demo_model, None, QUESTION, s).result(timeout=60).text
    assert a == b


def test_bad_sampling_and_missing_model_give_clear_errors(engine, demo_model, tmp_path):
    with pytest.raises(TuneDeckError, match="max tokens must be at least 1"):
        engine.generate(demo_model, None, QUESTION, Sampling(max_tokens=0)).result(timeout=60)
    with pytest.raises(TuneDeckError, match="model folder not found"):
        engine.load_chat_model(str(tmp_path / "nope")).result(timeout=60)


def test_test_prompts_from_all_three_formats(tmp_path):
    chat = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "A1"},
    ]
    files = {
        "chat": [{"messages": chat}, {"other": 1}],
        "completions": [{"prompt": "Q2", "completion": "A2"}, {"prompt": "Q2b"}],
        "text": [{"text": "T3"}],
    }
    got = {}
    for kind, rows in files.items():
        (tmp_path / kind).mkdir()
        (tmp_path / kind / "test.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
        got[kind] = [(p.prompt, p.system, p.reference, p.line) for p in test_prompts.load(tmp_path / kind)]
    assert got == {
        "chat": [("Q1", "S", "A1", 1)],
        "completions": [("Q2", None, "A2", 1)],
        "text": [("T3", None, None, 1)],
    }
    with pytest.raises(TuneDeckError, match="no test split"):
        test_prompts.load(tmp_path / "missing")


def test_transcript_markdown_and_atomic_save(tunedeck_home):
    t = tx.Transcript(
        model="/m/demo",
        adapter="/runs/r/adapters",
        system="You write SQL.",
        sampling=Sampling(temperature=0.7, seed=3, stop=(";",)),
        mode="compare",
    )
    t.turns.append(
        tx.Turn(
            "How many ```rows```?",
            [
                tx.Answer("base (demo)", "SELECT 1", 3, 100.0, 0.012, "max_tokens", max_tokens=3),
                tx.Answer("tuned (demo + adapter)", "SELECT COUNT(*) FROM t", 7, 90.0, 0.02, "eos"),
            ],
            reference="SELECT COUNT(*) FROM t",
        )
    )
    path = tx.save(t)
    assert path.parent == tunedeck_home / "transcripts" and path.suffix == ".md"
    text = path.read_text()
    for expected in [
        "- model: `/m/demo`",
        "- adapter: `/runs/r/adapters`",
        "- mode: compare",
        "temperature 0.7",
        "seed 3",
        "stop ';'",
        "## System prompt",
        "You write SQL.",
        "## Turn 1",
        "````text\nHow many ```rows```?\n````",
        "**base (demo)** — 3 tokens · 100 tok/s · first token 12 ms · hit max tokens (3)",
        "**tuned (demo + adapter)** — 7 tokens",
        "end of answer (EOS)",
        "**Reference (test split):**",
    ]:
        assert expected in text, expected
    assert tx.save(t) != path  # a second save in the same second gets its own file
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp files left


def test_token_batcher_sends_the_first_piece_at_once_then_by_time():
    sent, now = [], [0.0]
    batcher = TokenBatcher(sent.append, 0.02, clock=lambda: now[0])
    for t, piece in [(0.0, "SEL"), (0.001, "ECT"), (0.010, " *"), (0.025, " FROM"), (0.030, " t"), (0.031, "")]:
        now[0] = t
        batcher.add(piece)
    assert sent == ["SEL", "ECT * FROM"]  # the first at once, then at most one per 20 ms
    batcher.flush()
    batcher.flush()  # nothing left: nothing sent
    assert sent == ["SEL", "ECT * FROM", " t"] and "".join(sent) == "SELECT * FROM t"


def test_token_events_are_coalesced_and_still_the_whole_answer(engine, demo_model, recorder, monkeypatch):
    from core.chat import generation

    monkeypatch.setattr(generation, "TOKEN_EVENT_SECONDS", 3600.0)  # everything after the first: one flush
    job = engine.generate(demo_model, None, QUESTION, Sampling(max_tokens=30))
    done = job.result(timeout=60)
    assert len(tokens_of(recorder, job)) == 2 and "".join(tokens_of(recorder, job)) == done.text


def test_transcript_records_a_changed_system_prompt_and_saves_into_a_folder(tmp_path):
    t = tx.Transcript(model="/m", system="first")
    t.turns += [
        tx.Turn("q1", [tx.Answer("m", "a1", stop_reason="eos")], system="first"),
        tx.Turn("q2", [tx.Answer("m", "a2", stop_reason="eos")], system="second"),
    ]
    path = tx.save(t, tmp_path)  # a folder: a new file in it
    assert path.parent == tmp_path and path.suffix == ".md"
    text = path.read_text()
    assert text.count("**System prompt:**") == 1 and "```text\nsecond\n```" in text
    (tmp_path / "file").write_text("x")
    with pytest.raises(TuneDeckError, match="cannot write .* is a file, not a folder"):
        tx.save(t, tmp_path / "file" / "t.md")


def test_a_quantized_model_counts_the_parameters_its_packed_weights_hold(engine, demo_model, tmp_path, recorder):
    # A 4-bit weight packs 8 parameters into each uint32: counting array elements shows 1/8 of them.
    from core.models.model_info import count_parameters

    quantized = tmp_path / "demo-4bit"

    def convert():
        from mlx_lm import convert

        convert(demo_model, mlx_path=str(quantized), quantize=True, q_bits=4, q_group_size=64)

    engine.worker.call(convert)
    plain = engine.load_chat_model(demo_model).result(timeout=120)
    packed = engine.load_chat_model(str(quantized)).result(timeout=120)
    assert "quantization" in json.loads((quantized / "config.json").read_text())
    assert packed.parameters == plain.parameters == count_parameters(quantized, bits=4)
    loaded = [e for e in recorder.events if isinstance(e, ev.ModelLoaded) and e.model == str(quantized)]
    assert loaded and loaded[-1].parameters == plain.parameters
