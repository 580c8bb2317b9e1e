"""``tunedeck chat`` as a user runs it: one-shot, compare, a piped REPL, errors
(in-process through the ``cli`` fixture)."""

import pytest


@pytest.fixture
def tunedeck(cli):
    return lambda *args, stdin=None: cli("chat", *args, stdin=stdin)


def test_one_shot_prints_the_answer_and_why_it_stopped(tunedeck, demo_model, tmp_path):
    proc = tunedeck(
        "--model",
        demo_model,
        "--prompt",
        "Which team?",
        "--max-tokens",
        "9",
        "--system",
        "SQL",
        "--temp",
        "0.8",
        "--top-p",
        "0.9",
        "--seed",
        "1",
        "--repetition-penalty",
        "1.1",
        "--save",
        str(tmp_path / "t.md"),
    )
    assert proc.returncode == 0, proc.stderr
    answer = proc.stdout[:-1]  # the streamed answer and one newline, nothing else on stdout
    assert "hit max tokens (9) — the model did not end its answer" in proc.stderr
    text = (tmp_path / "t.md").read_text()
    assert "temperature 0.8 · top-p 0.9 · max 9 tokens · repetition penalty 1.1 · seed 1" in text
    assert f"```text\n{answer}\n```" in text and "```text\nSQL\n```" in text


def test_compare_prints_base_then_tuned(tunedeck, demo_model):
    proc = tunedeck(
        "--model", demo_model, "--base", demo_model, "--compare", "--prompt", "hi", "--max-tokens", "5", "--stats"
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "--- base (tunedeck-demo) ---"
    assert "--- tuned (tunedeck-demo) ---" in lines
    assert proc.stderr.count("tok/s") == 2


def test_piped_repl_answers_each_line_without_decorations(tunedeck, demo_model):
    proc = tunedeck(
        "--model",
        demo_model,
        "--max-tokens",
        "4",
        "--stop",
        "QQQ",
        stdin="first question\n\n/reset\nsecond question\n/quit\nnever asked\n",
    )
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) >= 2
    assert "> " not in proc.stdout and "chatting with" not in proc.stdout + proc.stderr
    assert proc.stderr.count("note: hit max tokens (4)") == 2  # two answers, the third line never asked


def test_clear_errors_for_missing_model_and_bad_options(tunedeck, demo_model, tmp_path):
    proc = tunedeck("--model", str(tmp_path / "nope"), "--prompt", "hi")
    assert proc.returncode == 1 and "model folder not found" in proc.stderr and "Traceback" not in proc.stderr
    proc = tunedeck("--model", demo_model, "--compare", "--prompt", "hi")
    assert proc.returncode == 1 and "--compare needs a tuned side" in proc.stderr
    proc = tunedeck("--model", demo_model, "--max-tokens", "0", "--prompt", "hi")  # refused as parsed
    assert proc.returncode == 2 and "argument --max-tokens: must be a whole number of at least 1" in proc.stderr


def test_save_that_cannot_be_written_fails_before_any_answer(tunedeck, demo_model, tmp_path):
    (tmp_path / "file").write_text("x")
    proc = tunedeck("--model", demo_model, "--prompt", "hi", "--save", str(tmp_path / "file" / "t.md"))
    assert proc.returncode == 1 and "cannot write the transcript" in proc.stderr and proc.stdout == ""
    proc = tunedeck("--model", demo_model, "--prompt", "hi", "--max-tokens", "3", "--save", str(tmp_path))
    assert proc.returncode == 0 and list(tmp_path.glob("chat-*.md"))  # a folder: a new file in it
