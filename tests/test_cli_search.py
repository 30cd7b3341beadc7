"""`tokrex search` through the CLI: report, JSON/CSV/Parquet, errors, and a real encode end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from query_fixtures import brute_metrics
from query_store_fixtures import CAPITALIZED, SAE_ID, planted, tiny_sae_dir  # noqa: F401
from tokrex.cli.app import app

ENV = {"COLUMNS": "120", "NO_COLOR": "1"}
CAP = '"[A-Z][a-z]+"'


def run(*args, env=None):
    result = CliRunner().invoke(app, [str(a) for a in args], env={**ENV, **(env or {})})
    return result


def test_report_has_header_table_and_examples(planted):
    r = run("search", CAP, "--sae", SAE_ID, "--store", planted.store, "--top", 5, "--examples", 2)
    assert r.exit_code == 0, r.output
    n_pos = len(planted.positives(lambda c: CAPITALIZED.fullmatch(c) is not None))
    out = r.stdout
    assert CAP in out and f"{n_pos:,}" in out and f"{len(planted.ids):,}" in out and SAE_ID in out
    for col in ("rank", "latent", "level", "F1", "precision", "recall", "cosine", "firings", "top tokens"):
        assert col in out
    lines = [line for line in out.splitlines() if line.strip().startswith("1 ")]
    assert lines and "L0" in lines[0] and "1.000" in lines[0]
    assert "hits (pattern and latent)" in out and "misses (pattern, latent silent)" in out
    assert "false alarms (latent, no pattern)" in out and "act 2." in out
    assert out.count("(level ") >= 2  # two example blocks


def test_json_schema_and_values(planted):
    r = run("search", CAP, "--sae", SAE_ID, "--store", planted.store, "--top", 4, "--format", "json")
    assert r.exit_code == 0, r.output
    obj = json.loads(r.stdout)
    assert {"pattern", "n_positives", "n_tokens", "sae", "latents"} <= set(obj)
    assert obj["pattern"] == CAP and obj["sae"] == SAE_ID and obj["n_tokens"] == len(planted.ids)
    positives = planted.positives(lambda c: CAPITALIZED.fullmatch(c) is not None)
    assert obj["n_positives"] == len(positives)
    want = brute_metrics(planted.acts, positives)
    assert len(obj["latents"]) == 4
    for row in obj["latents"]:
        assert {"latent", "level", "tp", "fp", "fn", "precision", "recall", "f1", "cosine"} <= set(row)
        for k in ("tp", "fp", "fn", "precision", "recall", "f1", "cosine", "mean_act_pos", "mean_act_neg"):
            assert row[k] == pytest.approx(want[k][row["latent"]], rel=1e-9, abs=1e-12)


def test_holes_and_cover_in_json_and_table(planted):
    r = run("search", CAP, "--sae", SAE_ID, "--store", planted.store, "--top", 3, "--holes", "--cover", 2, "--format", "json")
    obj = json.loads(r.stdout)
    l5 = next(row for row in obj["latents"] if row["latent"] == 5)
    assert l5["holes"][0]["latent"] in (0, 9) and l5["holes"][0]["share"] == 1.0
    assert obj["cover"][0] == {**obj["cover"][0], "step": 1, "latent": 0, "f1": 1.0}
    r = run("search", CAP, "--sae", SAE_ID, "--store", planted.store, "--top", 3, "--holes", "--cover", 2, "--examples", 0)
    assert "Absorption holes" in r.stdout and "Greedy cover" in r.stdout and "+L0" in r.stdout


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_row_formats(planted, tmp_path, fmt):
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    out = tmp_path / f"out.{fmt}"
    r = run("search", CAP, "--sae", SAE_ID, "--store", planted.store, "--top", 3, "--format", fmt, "--out", out)
    assert r.exit_code == 0, r.output
    if fmt == "csv":
        table = pacsv.read_csv(out)
        assert json.loads(table.column("top_tokens")[0].as_py())[0]["count"] > 0
    elif fmt == "parquet":
        table = pq.read_table(out)
        assert json.loads(table.schema.metadata[b"tokrex.search"])["sae"] == SAE_ID
    else:
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert [row["rank"] for row in rows] == [1, 2, 3]
        return
    assert table.num_rows == 3 and table.column("latent").to_pylist()[0] == 0


def test_parquet_needs_out(planted):
    r = run("search", CAP, "--sae", SAE_ID, "--store", planted.store, "--format", "parquet")
    assert r.exit_code == 2 and "--out" in r.output


def test_empty_match_set_exits_zero(planted):
    r = run("search", '"zzqqxx"', "--sae", SAE_ID, "--store", planted.store)
    assert r.exit_code == 0 and "No positives" in r.stdout and "0 of" in r.stdout
    r = run("search", '"zzqqxx"', "--sae", SAE_ID, "--store", planted.store, "--format", "json")
    assert r.exit_code == 0 and json.loads(r.stdout)["n_positives"] == 0 and json.loads(r.stdout)["latents"] == []


def test_pattern_errors(planted):
    r = run("search", '"unclosed', "--sae", SAE_ID, "--store", planted.store)
    assert r.exit_code == 2 and "Error:" in r.output and "^" in r.output and "Traceback" not in r.output
    r = run("search", '["[A-Z][a-z]+" & !L77]', "--sae", SAE_ID, "--store", planted.store)
    assert r.exit_code == 2 and "L77 does not exist" in r.output and "L0 to L15" in r.output
    caret_line = r.output.strip().splitlines()[-1]
    assert caret_line.index("^") == '["[A-Z][a-z]+" & !L77]'.index("L77")


def test_latent_atom_pattern_from_file(planted, tmp_path):
    f = tmp_path / "p.tokrex"
    f.write_text('cap = "[A-Z][a-z]+"\n# where L5 is silent\n[cap & !L5]\n')
    r = run("search", "-f", f, "--sae", SAE_ID, "--store", planted.store, "--top", 1, "--format", "json")
    assert r.exit_code == 0, r.output
    obj = json.loads(r.stdout)
    assert obj["latents"][0]["latent"] == 9 and obj["latents"][0]["f1"] == 1.0


def test_usage_errors(planted, tmp_path, monkeypatch):
    monkeypatch.delenv("TOKREX_STORE", raising=False)
    r = run("search", CAP, "--sae", SAE_ID, env={"TOKREX_HOME": str(tmp_path)})
    assert r.exit_code == 2 and "No store given" in r.output
    r = run("search", CAP, "--sae", SAE_ID, env={"TOKREX_STORE": str(planted.store)}, )
    assert r.exit_code == 0, r.output
    r = run("search", CAP, "--sae", SAE_ID, "--store", planted.store, "--by", "nope")
    assert r.exit_code == 2
    r = run("search", CAP, "--sae", "0123456789abcdef", "--store", planted.store)
    assert r.exit_code == 1 and "No firings for SAE 0123456789abcdef" in r.output
    r = run("search", CAP, "--sae", tmp_path / "missing", "--store", planted.store)
    assert r.exit_code == 1 and "does not exist" in r.output and "Traceback" not in r.output


def test_duckdb_engine_agrees(planted):
    a = json.loads(run("search", CAP, "--sae", SAE_ID, "--store", planted.store, "--format", "json", "--top", 8).stdout)
    b = json.loads(run("search", CAP, "--sae", SAE_ID, "--store", planted.store, "--format", "json", "--top", 8,
                       "--engine", "duckdb").stdout)
    assert [r["latent"] for r in a["latents"]] == [r["latent"] for r in b["latents"]]
    for x, y in zip(a["latents"], b["latents"]):
        assert x["f1"] == pytest.approx(y["f1"]) and x["cosine"] == pytest.approx(y["cosine"])


def test_end_to_end_with_a_real_sae(tmp_path, gpt2_tokenizer_dir, text_files, tiny_sae_dir, monkeypatch):
    """A tokrex checkpoint over the 2-layer GPT-2: search encodes the firings, then ranks them."""
    from tokrex.corpus import CorpusConfig, build_corpus, open_corpus
    from tokrex.store import open_firings

    store = tmp_path / "store"
    build_corpus(CorpusConfig(inputs=list(text_files), tokenizer=str(gpt2_tokenizer_dir), store=store, progress=False))
    pattern = '"[a-z]+"'
    r = run("search", pattern, "--sae", tiny_sae_dir, "--store", store, "--format", "json", "--top", 0, "--min-fires", 0,
            "--no-progress")
    assert r.exit_code == 0, r.output
    obj = json.loads(r.stdout)
    corpus = open_corpus(store)
    firings = open_firings(corpus, obj["sae"])
    table = firings.read()
    dense = np.zeros((corpus.n_tokens, firings.n_latents), dtype=np.float32)
    dense[table.column("token").to_numpy(), table.column("latent").to_numpy()] = table.column("act").to_numpy()
    positives = np.flatnonzero([corpus.vocab.core[i].isalpha() and corpus.vocab.core[i].islower() for i in corpus.ids])
    want = brute_metrics(dense, positives)
    assert obj["n_positives"] == len(positives) and len(obj["latents"]) == 24
    for row in obj["latents"]:
        for k in ("tp", "fp", "fn", "f1", "cosine"):
            assert row[k] == pytest.approx(want[k][row["latent"]], rel=1e-6, abs=1e-9)
        assert row["level"] == (0 if row["latent"] < 8 else 1)
    # a second search finds the SAE's id in the cache: the SAE is not even loaded again
    import tokrex.sae.load

    def no_load(*a, **k):
        raise AssertionError("the SAE was loaded although its id is cached")

    monkeypatch.setattr(tokrex.sae.load, "load_sae", no_load)
    r2 = run("search", pattern, "--sae", tiny_sae_dir, "--store", store, "--format", "json", "--top", 3)
    assert r2.exit_code == 0 and json.loads(r2.stdout)["sae"] == obj["sae"]
    assert (store / "cache" / "sae-ids.json").is_file()
    # ... and that path imports neither torch nor transformers, nor pandas (pyarrow's numpy bridge
    # pulls it in, ~0.3 s of CPU: the query stage goes through Arrow buffers instead)
    import subprocess
    import sys

    for fmt in ("json", "table"):
        code = (
            "import sys\n"
            "from tokrex.cli.app import app\n"
            f"sys.argv = ['tokrex', 'search', {pattern!r}, '--sae', {str(tiny_sae_dir)!r}, '--store', {str(store)!r},"
            f" '--format', {fmt!r}, '--holes']\n"
            "try:\n    app()\nexcept SystemExit:\n    pass\n"
            "print('HEAVY', 'torch' in sys.modules, 'transformers' in sys.modules, 'pandas' in sys.modules)\n"
        )
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert "HEAVY False False False" in proc.stdout, proc.stdout + proc.stderr


def test_sae_from_another_tokenizer_is_one_sentence(planted, tmp_path, tiny_sae_dir):
    import shutil

    ckpt = tmp_path / "other"
    shutil.copytree(tiny_sae_dir, ckpt)
    cfg = json.loads((ckpt / "cfg.json").read_text())
    cfg["tokenizer_hash"] = "f" * 64
    (ckpt / "cfg.json").write_text(json.dumps(cfg))
    r = run("search", CAP, "--sae", ckpt, "--store", planted.store, "--no-progress")
    assert r.exit_code == 1, r.output
    assert r.output.startswith("Error:") and "tokenizer" in r.output and "Traceback" not in r.output
    assert r.output.count("Error:") == 1


def test_index_builds_show_progress_unless_no_progress(planted, tmp_path):
    import shutil

    store = tmp_path / "store"
    shutil.copytree(planted.store, store)
    for flag, shown in (("--no-progress", False), ("--progress", True)):
        shutil.rmtree(store / "saes" / SAE_ID / "index", ignore_errors=True)
        r = run("search", CAP, "--sae", SAE_ID, "--store", store, "--format", "json", flag)
        assert r.exit_code == 0, r.output
        assert ("Indexing firings by token" in r.stderr) is shown
        assert json.loads(r.stdout)["n_positives"] > 0
