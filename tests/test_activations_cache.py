"""The activation cache: shards + manifest, identical after a resumed build, foreign caches refused."""

from __future__ import annotations

import json

import pytest
import torch

from train_fixtures import fresh_copy, train_store, one_thread  # noqa: F401

from tokrex.activations import ActivationConfig, build_cache, iter_activations, open_cache
from tokrex.activations import cache as cache_mod
from tokrex.corpus import open_corpus
from tokrex.errors import ActivationError

pytestmark = pytest.mark.usefixtures("one_thread")


def _cfg(model, **kw):
    return ActivationConfig(model=str(model), layer=0, ctx=32, device="cpu", shard_tokens=4000, **kw)


def test_cache_layout_and_reads(train_store, gpt2_model_dir, tmp_path):
    corpus = open_corpus(fresh_copy(train_store, tmp_path))
    cfg = _cfg(gpt2_model_dir)
    assert open_cache(corpus, cfg) is None
    cache = build_cache(corpus, cfg, progress=False)
    m = json.loads((cache.path / "manifest.json").read_text())
    assert cache.path.parent == corpus.path / "activations"
    assert m["format"] == "tokrex-activations" and m["version"] == 1
    assert m["layer"] == 0 and m["hook"] == "resid_post" and m["ctx"] == 32 and m["dtype"] == "float16"
    assert m["corpus"]["n_tokens"] == corpus.n_tokens and m["corpus"]["tokenizer_hash"] == corpus.tokenizer_hash
    assert m["d_model"] == 32 and len(m["shards"]) > 2 and cache.complete
    assert sum(s["n_rows"] for s in m["shards"]) == corpus.n_tokens
    assert [s["start"] for s in m["shards"]] == m["shard_bounds"]
    full = cache.read(0, corpus.n_tokens)
    assert full.dtype == torch.float16 and full.shape == (corpus.n_tokens, 32)
    torch.testing.assert_close(cache.read(3990, 4100), full[3990:4100], rtol=0, atol=0)
    # iter_activations reads the cache and gives the same rows a fresh computation gives
    cached = torch.cat([r for _, r in iter_activations(corpus, cfg)])
    assert torch.equal(cached, full.float())
    reopened = open_cache(corpus, cfg)
    assert reopened is not None and reopened.complete


def test_interrupted_build_resumes_to_identical_cache(train_store, gpt2_model_dir, tmp_path, monkeypatch):
    ref_corpus = open_corpus(fresh_copy(train_store, tmp_path / "a"))
    ref = build_cache(ref_corpus, _cfg(gpt2_model_dir), progress=False).read(0, ref_corpus.n_tokens)

    corpus = open_corpus(fresh_copy(train_store, tmp_path / "b"))
    real_write = cache_mod._write_shard
    written = []

    def flaky_write(cache, i, start, rows):
        if len(written) == 2:
            raise KeyboardInterrupt  # the user pressed Ctrl-C while the third shard was being saved
        written.append(i)
        real_write(cache, i, start, rows)

    monkeypatch.setattr(cache_mod, "_write_shard", flaky_write)
    with pytest.raises(KeyboardInterrupt):
        build_cache(corpus, _cfg(gpt2_model_dir), progress=False)
    partial = open_cache(corpus, _cfg(gpt2_model_dir))
    assert partial is not None and not partial.complete and len(partial.manifest["shards"]) == 2
    assert not [p for p in partial.path.iterdir() if p.name.startswith(".")]  # no half-written shard left

    monkeypatch.setattr(cache_mod, "_write_shard", real_write)
    resumed_shards = []
    monkeypatch.setattr(cache_mod, "_write_shard", lambda c, i, s, r: (resumed_shards.append(i), real_write(c, i, s, r)))
    cache = build_cache(corpus, _cfg(gpt2_model_dir), progress=False)
    assert resumed_shards[0] == 2  # continued after the last complete shard
    assert cache.complete and torch.equal(cache.read(0, corpus.n_tokens), ref)


def test_partial_cache_to_a_stop_token(train_store, gpt2_model_dir, tmp_path):
    corpus = open_corpus(fresh_copy(train_store, tmp_path))
    cache = build_cache(corpus, _cfg(gpt2_model_dir), stop_token=5000, progress=False)
    assert 5000 <= cache.n_rows < corpus.n_tokens and not cache.complete
    rows = torch.cat([r for _, r in iter_activations(corpus, _cfg(gpt2_model_dir), 4000, stop_token=corpus.n_tokens)])
    assert rows.shape[0] == corpus.n_tokens - 4000  # cached part read, the rest computed


@pytest.mark.parametrize("field,value,word", [("layer", 1, "layer"), ("corpus", {"n_tokens": 1}, "corpus")])
def test_foreign_cache_is_refused(train_store, gpt2_model_dir, tmp_path, field, value, word):
    corpus = open_corpus(fresh_copy(train_store, tmp_path))
    cache = build_cache(corpus, _cfg(gpt2_model_dir), stop_token=100, progress=False)
    m = json.loads((cache.path / "manifest.json").read_text())
    m[field] = value
    (cache.path / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ActivationError, match=f"another {word}"):
        build_cache(corpus, _cfg(gpt2_model_dir), progress=False)


def test_other_model_gets_its_own_cache(train_store, gpt2_model_dir, tmp_path):
    corpus = open_corpus(fresh_copy(train_store, tmp_path))
    a = build_cache(corpus, _cfg(gpt2_model_dir), stop_token=100, progress=False)
    b = build_cache(corpus, ActivationConfig(model=str(gpt2_model_dir), layer=1, ctx=32, shard_tokens=4000),
                    stop_token=100, progress=False)
    c = build_cache(corpus, _cfg(gpt2_model_dir, dtype="bfloat16"), stop_token=100, progress=False)
    assert len({a.path, b.path, c.path}) == 3
    assert c.read(0, 10).dtype == torch.bfloat16
