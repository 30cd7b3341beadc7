"""`tokrex sql` through the CLI: views, formats, errors, auto-encoding with --sae."""

from __future__ import annotations

import csv
import io
import json

import pyarrow.parquet as pq
from typer.testing import CliRunner

from store_fixtures import corpus_copy, gpt2_sae_dir, store_corpus  # noqa: F401
from tokrex.cli.app import app

ENV = {"COLUMNS": "120"}


def _run(*args):
    return CliRunner().invoke(app, list(args), env=ENV)


def test_table_output_limits_rows_and_says_how_many(corpus_copy):
    r = _run("sql", "SELECT token, doc, pos, id FROM tokens ORDER BY token", "--store", str(corpus_copy.path), "--max-rows", "5")
    assert r.exit_code == 0, r.output
    assert "token" in r.stdout and "pos" in r.stdout
    n = corpus_copy.n_tokens
    assert f"{n:,} rows ({n - 5:,} not shown" in r.stdout


def test_json_jsonl_csv_parquet(corpus_copy, tmp_path):
    store = str(corpus_copy.path)
    q = "SELECT doc, start, n_tokens FROM docs ORDER BY doc"
    expect = [{"doc": d, "start": int(s), "n_tokens": int(e - s)} for d, (s, e) in
              enumerate(zip(corpus_copy.doc_offsets[:-1], corpus_copy.doc_offsets[1:]))]
    r = _run("sql", q, "--store", store, "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == expect
    r = _run("sql", q, "--store", store, "--format", "jsonl")
    assert [json.loads(line) for line in r.stdout.splitlines()] == expect
    r = _run("sql", q, "--store", store, "--format", "csv")
    assert [{k: int(v) for k, v in row.items()} for row in csv.DictReader(io.StringIO(r.stdout))] == expect
    out = tmp_path / "docs.parquet"
    r = _run("sql", q, "--store", store, "--format", "parquet", "--out", str(out))
    assert r.exit_code == 0 and pq.read_table(out).to_pylist() == expect
    r = _run("sql", q, "--store", store, "--format", "parquet")
    assert r.exit_code == 2 and "--out" in r.output
    out = tmp_path / "docs.json"
    r = _run("sql", "SELECT sum(n_tokens) AS n FROM docs", "--store", store, "--format", "json", "--out", str(out))
    assert json.loads(out.read_text()) == [{"n": corpus_copy.n_tokens}]


def test_bad_query_is_one_sentence_exit_1(corpus_copy):
    r = _run("sql", "SELECT * FROM nosuch", "--store", str(corpus_copy.path))
    assert r.exit_code == 1
    assert r.output.startswith("Error: The query failed:") and "nosuch" in r.output and "Traceback" not in r.output
    r = _run("sql", "SELECT * FROM firings", "--store", str(corpus_copy.path))
    assert r.exit_code == 1 and "firings view needs an SAE: add --sae" in r.output
    r = _run("sql", "SELECT count(*) FROM latents", "--store", str(corpus_copy.path))
    assert r.exit_code == 1 and "latents view needs an SAE: add --sae" in r.output


def test_sae_adds_firings_and_latents_encoding_first(corpus_copy, gpt2_sae_dir):
    from tokrex.sae.load import load_sae
    from tokrex.store import open_firings

    store = str(corpus_copy.path)
    r = _run("sql", "SELECT count(*) AS n, count(DISTINCT latent) AS k FROM firings", "--store", store,
             "--sae", str(gpt2_sae_dir), "--format", "json", "--no-progress")
    assert r.exit_code == 0, r.output
    f = open_firings(corpus_copy, load_sae(gpt2_sae_dir, device="cpu"))
    assert json.loads(r.stdout) == [{"n": f.n_firings, "k": int((f.latents()["n_fires"].to_numpy() > 0).sum())}]
    r = _run("sql", "SELECT latent, level, n_fires FROM latents WHERE latent IN (0, 39) ORDER BY latent", "--store", store,
             "--sae", str(gpt2_sae_dir), "--format", "jsonl")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(x["latent"], x["level"]) for x in rows] == [(0, 0), (39, 1)]
    r = _run("sql", "SELECT count(*) AS n FROM firings", "--store", store, "--sae", f.sae_id, "--format", "json")
    assert r.exit_code == 0 and json.loads(r.stdout) == [{"n": f.n_firings}]
