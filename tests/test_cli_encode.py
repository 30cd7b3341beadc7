"""`tokrex encode` through the CLI on the tiny GPT-2 fixture and a tiny SAE checkpoint."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from store_fixtures import corpus_copy, gpt2_sae_dir, store_corpus  # noqa: F401
from tokrex.cli.app import app

ENV = {"COLUMNS": "120"}


def _run(*args):
    return CliRunner().invoke(app, list(args), env=ENV)


def test_encode_then_reuse(corpus_copy, gpt2_sae_dir):
    store = str(corpus_copy.path)
    r = _run("encode", "--sae", str(gpt2_sae_dir), "--store", store, "--device", "cpu", "--no-progress", "--format", "json")
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["state"] == "encoded" and info["n_tokens"] == corpus_copy.n_tokens and info["layer"] == 0
    assert info["n_firings"] > 0 and info["bytes_per_firing"] > 0
    assert (corpus_copy.path / "firings" / f"sae={info['sae_id']}" / "part-000000.parquet").is_file()
    assert (corpus_copy.path / "latents" / f"sae={info['sae_id']}" / "latents.parquet").is_file()
    r = _run("encode", "--sae", str(gpt2_sae_dir), "--store", store, "--device", "cpu", "--no-progress")
    assert r.exit_code == 0, r.output
    assert "already encoded" in r.stdout and f"{corpus_copy.n_tokens:,}" in r.stdout
    r = _run("encode", "--sae", str(gpt2_sae_dir), "--store", store, "--device", "cpu", "--no-progress", "--layer", "1")
    assert r.exit_code == 1
    assert "--overwrite" in r.output and "Traceback" not in r.output
    r = _run("encode", "--sae", str(gpt2_sae_dir), "--store", store, "--device", "cpu", "--no-progress", "--layer", "1",
             "--overwrite", "--format", "json")
    assert r.exit_code == 0 and json.loads(r.stdout)["layer"] == 1


def test_encode_shows_progress_on_stderr(corpus_copy, gpt2_sae_dir):
    r = _run("encode", "--sae", str(gpt2_sae_dir), "--store", str(corpus_copy.path), "--device", "cpu", "--format", "json")
    assert r.exit_code == 0, r.output
    assert "Encoding SAE" in r.stderr
    json.loads(r.stdout)


def test_encode_errors_are_one_line(corpus_copy, gpt2_sae_dir, tmp_path):
    r = _run("encode", "--sae", str(tmp_path / "nope"), "--store", str(corpus_copy.path))
    assert r.exit_code == 1 and "does not exist" in r.output
    r = _run("encode", "--sae", str(gpt2_sae_dir), "--store", str(tmp_path / "nostore"))
    assert r.exit_code == 1 and "No corpus store" in r.output
    r = _run("encode", "--sae", str(gpt2_sae_dir), "--store", str(corpus_copy.path), "--batch-size", "0")
    assert r.exit_code == 2 and "--batch-size" in r.output
