"""`tokrex latent`: the dashboard and its JSON on planted firings and on a real SAE."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from query_store_fixtures import SAE_ID, planted, tiny_sae_dir  # noqa: F401
from tokrex.cli.app import app

ENV = {"COLUMNS": "120", "NO_COLOR": "1"}


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args], env=ENV)


def test_dashboard_sections(planted):
    r = run("latent", 5, "--sae", SAE_ID, "--store", planted.store, "--contexts", 3)
    assert r.exit_code == 0, r.output
    out = r.stdout
    n = int((planted.acts[:, 5] > 0).sum())
    assert out.startswith("L5") and "level 1" in out and f"fires on {n:,} of {len(planted.ids):,} tokens" in out
    for title in ("Activation histogram", "Top-activating contexts", "Samples at activation quantiles",
                  "Top tokens by count", "Top tokens by mean act", "Co-firing latents", "Matryoshka relatives"):
        assert title in out
    assert "█" in out and "act 1.50" in out
    assert "earlier levels firing whenever this one fires: L0 (level 0, 100%)" in out
    assert "Nearest by decoder cosine" not in out  # an SAE id has no decoder at hand


def test_json_has_everything(planted):
    r = run("latent", 0, "--sae", SAE_ID, "--store", planted.store, "--format", "json", "--cofiring", 3)
    assert r.exit_code == 0, r.output
    v = json.loads(r.stdout)
    for key in ("latent", "level", "n_fires", "freq", "histogram", "top_contexts", "quantiles", "top_tokens_by_count",
                "top_tokens_by_mean_act", "cofiring", "relatives", "nearest"):
        assert key in v
    assert v["n_fires"] == int((planted.acts[:, 0] > 0).sum())
    assert {c["latent"] for c in v["relatives"]["children"]} >= {5, 9}
    assert v["relatives"]["parents"] == []
    assert len(v["cofiring"]) == 3 and v["cofiring"][0]["latent"] in (5, 9)
    top = v["top_contexts"][0]
    assert top["act"] == pytest.approx(float(planted.acts[:, 0].max()))
    assert top["pieces"][top["center"]] and len(top["pieces"]) == len(top["acts"])


def test_unknown_latent(planted):
    r = run("latent", 16, "--sae", SAE_ID, "--store", planted.store)
    assert r.exit_code == 2 and "Latent 16 does not exist" in r.output and "0 to 15" in r.output
    r = run("latent", 3, "--sae", SAE_ID, "--store", planted.store, "--quantiles", "x")
    assert r.exit_code == 2 and "quantiles" in r.output


def test_real_sae_has_decoder_neighbours(tmp_path, gpt2_tokenizer_dir, text_files, tiny_sae_dir):
    from tokrex.corpus import CorpusConfig, build_corpus
    from tokrex.sae.load import load_sae

    store = tmp_path / "store"
    build_corpus(CorpusConfig(inputs=list(text_files), tokenizer=str(gpt2_tokenizer_dir), store=store, progress=False))
    r = run("latent", 3, "--sae", tiny_sae_dir, "--store", store, "--format", "json", "--neighbours", 4, "--no-progress")
    assert r.exit_code == 0, r.output
    v = json.loads(r.stdout)
    W = load_sae(tiny_sae_dir, device="cpu").W_dec.detach().numpy()
    Wn = W / np.linalg.norm(W, axis=1, keepdims=True)
    cos = Wn @ Wn[3]
    cos[3] = -np.inf
    assert [n["latent"] for n in v["nearest"]] == np.argsort(-cos, kind="stable")[:4].tolist()
    assert [n["cosine"] for n in v["nearest"]] == pytest.approx(cos[np.argsort(-cos, kind="stable")[:4]].tolist(), rel=1e-5)
    r = run("latent", 3, "--sae", tiny_sae_dir, "--store", store)
    assert r.exit_code == 0 and "Nearest by decoder cosine" in r.stdout
    r = run("latent", 24, "--sae", tiny_sae_dir, "--store", store)
    assert r.exit_code == 2 and "Latent 24 does not exist: this SAE has 24 latents" in r.output
