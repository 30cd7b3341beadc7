"""`tokrex corpus build` and `tokrex corpus info` through the CLI: output, error sentences, exit codes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from conftest import TEXTS
from corpus_fixtures import gpt2_store, jsonl_file  # noqa: F401
from tokrex.cli.app import app


@pytest.fixture(scope="module")
def runner():
    return CliRunner(env={"COLUMNS": "120", "NO_COLOR": "1"})


def test_build_and_info(runner, tmp_path, gpt2_tokenizer_dir, text_files, jsonl_file):
    store = tmp_path / "s"
    args = ["corpus", "build", *map(str, text_files[:2]), str(jsonl_file), "--tokenizer", str(gpt2_tokenizer_dir), "--store", str(store), "--no-progress"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "Built" in r.stderr and "6 documents" in r.stderr
    r = runner.invoke(app, ["corpus", "info", "--store", str(store)])
    assert r.exit_code == 0, r.output
    for text in ("documents", "6", "tokens", "vocabulary", "600", str(gpt2_tokenizer_dir.resolve()), "uint16", "size on disk", "byte_level"):
        assert text in r.stdout
    r = runner.invoke(app, ["corpus", "info", "--store", str(store), "--format", "json"])
    info = json.loads(r.stdout)
    assert info["n_docs"] == 6 and info["vocab_size"] == 600 and info["token_dtype"] == "uint16"
    assert len(info["tokenizer_hash"]) == 64 and info["tokenizer_hash"] in runner.invoke(app, ["corpus", "info", "--store", str(store)]).stdout
    assert info["size_bytes"] > 0


def test_existing_store_refused_then_replaced(runner, tmp_path, gpt2_tokenizer_dir, text_files):
    store = tmp_path / "s"
    base = ["corpus", "build", "--tokenizer", str(gpt2_tokenizer_dir), "--store", str(store), "--no-progress"]
    assert runner.invoke(app, [*base, str(text_files[0])]).exit_code == 0
    r = runner.invoke(app, [*base, str(text_files[1])])
    assert r.exit_code == 1
    assert "Error:" in r.stderr and "already holds a corpus store; pass --replace" in r.stderr and "Traceback" not in r.output
    r = runner.invoke(app, [*base, str(text_files[1]), "--replace"])
    assert r.exit_code == 0, r.output
    info = json.loads(runner.invoke(app, ["corpus", "info", "--store", str(store), "--format", "json"]).stdout)
    assert info["n_docs"] == 1
    assert runner.invoke(app, [*base, str(text_files[2]), "--force"]).exit_code == 0  # alias


@pytest.mark.parametrize(
    "case, code, message",
    [
        ("missing_input", 1, "does not exist"),
        ("bad_json", 1, "is not valid JSON"),
        ("no_tokenizer", 1, "not a directory, a tokenizer.json file or a name in the local Hugging Face cache"),
        ("no_inputs", 2, "Missing argument"),
        ("empty_field", 2, "--text-field must not be empty"),
    ],
)
def test_build_errors(runner, tmp_path, gpt2_tokenizer_dir, text_files, case, code, message):
    (tmp_path / "bad.jsonl").write_text("{nope\n")
    inputs = {
        "missing_input": [str(tmp_path / "missing.txt")],
        "bad_json": [str(tmp_path / "bad.jsonl")],
        "no_inputs": [],
    }.get(case, [str(text_files[0])])
    tok = "not-cached-org/not-cached" if case == "no_tokenizer" else str(gpt2_tokenizer_dir)
    extra = ["--text-field", ""] if case == "empty_field" else []
    r = runner.invoke(app, ["corpus", "build", *inputs, "--tokenizer", tok, "--store", str(tmp_path / "s"), "--no-progress", *extra])
    assert r.exit_code == code, r.output
    assert message in " ".join(r.stderr.split())
    assert "Traceback" not in r.output
    assert not (tmp_path / "s").exists()


def test_info_errors(runner, tmp_path, gpt2_store):
    r = runner.invoke(app, ["corpus", "info", "--store", str(tmp_path / "nowhere")])
    assert r.exit_code == 1 and "No corpus store at" in r.stderr
    r = runner.invoke(app, ["corpus", "info", "--store", str(gpt2_store), "--format", "parquet"])
    assert r.exit_code == 2 and "--format parquet needs --out FILE" in r.stderr


def test_info_in_every_format_its_help_lists(runner, tmp_path, gpt2_store):
    import pyarrow.parquet as pq

    r = runner.invoke(app, ["corpus", "info", "--store", str(gpt2_store), "--format", "csv"])
    lines = r.stdout.splitlines()
    assert r.exit_code == 0 and len(lines) == 2 and lines[0].startswith('"store","n_docs","n_tokens"')
    r = runner.invoke(app, ["corpus", "info", "--store", str(gpt2_store), "--format", "jsonl"])
    assert r.exit_code == 0 and json.loads(r.stdout)["n_docs"] == len(TEXTS)
    out = tmp_path / "info.parquet"
    r = runner.invoke(app, ["corpus", "info", "--store", str(gpt2_store), "--format", "parquet", "--out", str(out)])
    assert r.exit_code == 0 and pq.read_table(out).to_pylist()[0]["n_tokens"] > 0


def test_info_to_file(runner, tmp_path, gpt2_store):
    out = tmp_path / "info.json"
    r = runner.invoke(app, ["corpus", "info", "--store", str(gpt2_store), "--format", "json", "--out", str(out)])
    assert r.exit_code == 0 and r.stdout == ""
    assert json.loads(out.read_text())["n_docs"] == len(TEXTS)
