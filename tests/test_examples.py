"""Every script in examples/ runs against a tiny fixture store and SAE, and prints what it claims."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

from store_fixtures import gpt2_sae_dir, store_corpus  # noqa: F401

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(p.stem for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))


def _load(name: str):
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(f"tokrex_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def store(tmp_path_factory, store_corpus) -> Path:  # noqa: F811
    """A private copy of the inline-text store (the examples encode firings into it)."""
    dst = tmp_path_factory.mktemp("examples") / "store"
    shutil.copytree(store_corpus, dst)
    return dst


@pytest.fixture(scope="module")
def run(store, gpt2_sae_dir):  # noqa: F811
    """Run an example's main() with --store/--sae pointing at the fixtures; returns its stdout."""

    def go(name: str, *args: str, capsys, sae: bool = True) -> str:
        argv = ["--store", str(store), *(["--sae", str(gpt2_sae_dir)] if sae else []), *args]
        assert _load(name).main(argv) == 0
        return capsys.readouterr().out

    return go


def test_every_example_is_tested():
    tested = {"female_names", "quoted_words", "induction", "absorption_holes", "export_results", "load_saelens"}
    assert set(SCRIPTS) == tested


@pytest.mark.parametrize("name", SCRIPTS)
def test_examples_have_usage_and_default_to_the_demo_cache(name, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TOKREX_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "400")  # argparse wraps help at the terminal width
    monkeypatch.delenv("TOKREX_STORE", raising=False)
    module = _load(name)
    assert module.__doc__ and "python examples/" in module.__doc__
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    assert "--store" in help_text and str(tmp_path / "demo" / "store") in help_text


def test_female_names(run, capsys):
    module = _load("female_names")
    assert module.names_pattern(["Mary", "Emma"]) == '@<"(?:mary|emma)"i>'
    out = run("female_names", "--top", "3", capsys=capsys)
    # the inline corpus has Alice x2, Mary, Hermione x2, Emma, Olivia, Sophia
    assert "female first names" in out
    positives = int(out.split("\n")[1].split()[0].replace(",", ""))
    assert positives >= 8
    assert "L" in out.split("top tokens")[1]


def test_quoted_words(run, capsys):
    out = run("quoted_words", "--show", "3", capsys=capsys)
    assert out.splitlines()[0].endswith("positive tokens") and not out.startswith("0 matches")
    assert "doc " in out and '"' in out
    assert "words inside quotes" in out


def test_induction(run, capsys, store):
    import tokrex

    corpus = tokrex.open_corpus(store)
    for args, pattern in (((), _load("induction").WORDS), (("--any",), _load("induction").ANY)):
        out = run("induction", *args, capsys=capsys)
        expected = tokrex.compile(pattern, corpus.vocab).run(corpus.ids, corpus.doc_offsets).n_positives
        assert expected > 0  # "Harry ... Harry", "The cat ... The cat", quotes ...
        assert f"{pattern}\n  {expected:,} positive tokens" in out


def test_absorption_holes_match_the_top_latents_misses(run, capsys):
    out = run("absorption_holes", capsys=capsys)
    best = next(line for line in out.splitlines() if line.startswith("best latent"))
    misses = int(best.rsplit("misses ", 1)[1].split()[0].replace(",", ""))
    hole = next(line for line in out.splitlines() if line.startswith("the hole"))
    assert int(hole.split(" holds ")[1].split()[0].replace(",", "")) == misses
    assert "tokrex search --holes" in out


def test_export_results(run, capsys, tmp_path):
    import pyarrow.parquet as pq

    from tokrex.query import search_info

    out = run("export_results", "--out-dir", str(tmp_path), "--top", "4", capsys=capsys)
    table = pq.read_table(tmp_path / "search.parquet")
    doc = json.loads((tmp_path / "search.json").read_text())
    assert table.num_rows == len(doc["latents"]) == 4
    assert search_info(table)["pattern"] == doc["pattern"] == r'"\d+"'
    assert [r["latent"] for r in doc["latents"]] == table.column("latent").to_pylist()
    assert {"latent", "tp", "fp", "fn", "precision", "recall", "f1"} <= set(doc["latents"][0])
    assert f"L{doc['latents'][0]['latent']}: F1" in out


def _saelens_folder(folder: Path, model_dir: Path) -> Path:
    """A tiny SAELens v6 folder (standard ReLU) for layer 1 of the GPT-2 fixture (d_model 32)."""
    import torch

    from sae_format_fixtures import saelens_v6_cfg, write_saelens

    g = torch.Generator().manual_seed(7)
    d_in, n = 32, 24
    cfg = saelens_v6_cfg("standard", model_name=str(model_dir), hook_name="blocks.1.hook_resid_post", context_size=16)
    cfg.update(d_in=d_in, d_sae=n)
    weights = {"W_enc": torch.randn(d_in, n, generator=g) * 0.3, "b_enc": torch.zeros(n),
               "W_dec": torch.randn(n, d_in, generator=g) * 0.3, "b_dec": torch.zeros(d_in)}
    return write_saelens(folder, cfg, weights)


def test_load_saelens(run, capsys, tmp_path, gpt2_model_dir):
    folder = _saelens_folder(tmp_path / "saelens", gpt2_model_dir)
    out = run("load_saelens", str(folder), "--top", "2", capsys=capsys, sae=False)
    assert out.startswith("format saelens: relu, d_in 32, 24 latents;")
    assert "layer 1 (resid_post)" in out
    assert "SAELens SAE" in out and "positive tokens" in out
