"""Encoding: blocks, brute-force equality, resume after interruption, settings and their conflicts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from store_fixtures import StandInCorpus, random_sae, sparse_of, stored
from tokrex.errors import ActivationError, StoreError, UsageError
from tokrex.sae.meta import SaeMeta
from tokrex.store import EncodeConfig, encode_activations, open_firings, sae_key
from tokrex.store.encode import _aligned_blocks, default_block, resolve_settings


def _settings(**kw):
    base = {"model": "synthetic", "layer": 0, "hook": "resid_post", "ctx": 16, "device": "cpu", "dtype": "float32",
            "block_tokens": 32, "part_rows": 120}
    return {**base, **kw}


def _source(x: torch.Tensor, chunk: int, *, fail_after: int | None = None):
    calls = {"n": 0}

    def source(start: int):
        for s in range(start, len(x), chunk):
            if fail_after is not None and calls["n"] >= fail_after:
                raise KeyboardInterrupt
            calls["n"] += 1
            yield s, x[s : s + chunk]

    return source


def _brute(sae, x: torch.Tensor) -> np.ndarray:
    with torch.inference_mode():
        return sae.encode(x).numpy()


@pytest.mark.parametrize("activation,k", [("topk", 4), ("relu", None)])
def test_encode_equals_dense_brute_force(tmp_path, activation, k):
    n_tokens = 203
    sae = random_sae(16, 24, activation=activation, k=k, groups=[6, 24], bias=-0.3)
    x = torch.randn(n_tokens, 16, generator=torch.Generator().manual_seed(0))
    corpus = StandInCorpus(tmp_path, n_tokens)
    f = encode_activations(corpus, sae, _source(x, 37), _settings(), progress=False)
    dense = _brute(sae, x)
    token, latent, act = sparse_of(dense)
    t = f.read()
    assert np.array_equal(t["token"].to_numpy(), token)
    assert np.array_equal(t["latent"].to_numpy(), latent)
    assert np.array_equal(t["act"].to_numpy(), stored(act))
    if activation == "topk":
        assert np.all(np.diff(f.token_index().offsets) <= 4)
    lat = f.latents()
    assert np.array_equal(lat["n_fires"].to_numpy(), (dense > 0).sum(0))
    assert lat["level"].to_pylist() == [0] * 6 + [1] * 18
    m = f.manifest
    assert m["status"] == "complete" and m["next_token"] == n_tokens
    assert m["sae"]["n_latents"] == 24 and m["sae"]["groups"] == [6, 24] and m["layer"] == 0
    assert m["counts"]["n_firings"] == len(token)
    assert m["counts"]["bytes"] == sum(p.stat().st_size for p in f.parts)


def test_resume_after_interruption_is_identical(tmp_path):
    n_tokens = 500
    sae = random_sae(16, 30, activation="topk", k=5, seed=2)
    x = torch.randn(n_tokens, 16, generator=torch.Generator().manual_seed(1))
    whole = encode_activations(StandInCorpus(tmp_path / "a", n_tokens), sae, _source(x, 50), _settings(), progress=False)

    corpus = StandInCorpus(tmp_path / "b", n_tokens)
    with pytest.raises(KeyboardInterrupt):
        encode_activations(corpus, sae, _source(x, 50, fail_after=6), _settings(), progress=False)
    with pytest.raises(StoreError, match="incomplete"):
        open_firings(corpus, sae)
    from tokrex.store.manifest import read_manifest

    partial = read_manifest(whole.layout.__class__(corpus.path, whole.sae_id))
    assert partial["status"] == "partial" and 0 < partial["next_token"] < n_tokens
    assert partial["next_token"] % 32 == 0  # parts end on block boundaries
    # a different activation chunking on resume changes nothing
    resumed = encode_activations(corpus, sae, _source(x, 77), _settings(), progress=False)
    assert resumed.manifest["run_id"] == partial["run_id"]
    assert [p["digest"] for p in resumed.manifest["parts"]] == [p["digest"] for p in whole.manifest["parts"]]
    assert resumed.read().equals(whole.read())
    assert resumed.latents().equals(whole.latents())
    assert not list(resumed.layout.sae_dir.glob("stats-*.npz"))[1:]  # only the latest accumulators are kept


def test_complete_firings_are_reused_not_recomputed(tmp_path):
    sae = random_sae(8, 12, seed=3)
    x = torch.randn(40, 8)
    corpus = StandInCorpus(tmp_path, 40)
    f = encode_activations(corpus, sae, _source(x, 10), _settings(), progress=False)

    def boom(start):
        raise AssertionError("must not be called")

    g = encode_activations(corpus, sae, boom, _settings(block_tokens=7), progress=False)
    assert g.manifest["run_id"] == f.manifest["run_id"]


def test_other_settings_conflict_unless_overwrite(tmp_path):
    sae = random_sae(8, 12, seed=4)
    x = torch.randn(40, 8)
    corpus = StandInCorpus(tmp_path, 40)
    f = encode_activations(corpus, sae, _source(x, 10), _settings(), progress=False)
    with pytest.raises(StoreError, match="layer 0.*--overwrite"):
        encode_activations(corpus, sae, _source(x, 10), _settings(layer=1), progress=False)
    g = encode_activations(corpus, sae, _source(x, 10), _settings(layer=1), overwrite=True, progress=False)
    assert g.manifest["layer"] == 1 and g.manifest["run_id"] != f.manifest["run_id"]


def test_sae_record_changed_since_encoding_is_refused(tmp_path):
    # the id hashes the weights only: an SAE whose config now names another layer must not reuse the firings
    sae = random_sae(8, 12, seed=4)
    sae.meta = SaeMeta(model="m", layer=0, hook="resid_post", ctx=16)
    corpus = StandInCorpus(tmp_path, 40)
    encode_activations(corpus, sae, _source(torch.randn(40, 8), 10), _settings(), progress=False)
    assert open_firings(corpus, sae).manifest["sae"]["layer"] == 0
    sae.meta = SaeMeta(model="m", layer=2, hook="resid_post", ctx=16)
    with pytest.raises(StoreError, match="recorded layer 0, but it now records 2.*--overwrite"):
        open_firings(corpus, sae)
    sae.meta = SaeMeta(model="m", layer=0, hook="resid_post", ctx=64)
    with pytest.raises(StoreError, match="recorded ctx 16, but it now records 64"):
        open_firings(corpus, sae)
    assert open_firings(corpus, sae_key(sae)).n_tokens == 40  # opened by id: nothing recorded to compare


def test_firings_of_another_corpus_are_refused(tmp_path):
    sae = random_sae(8, 12, seed=5)
    x = torch.randn(40, 8)
    encode_activations(StandInCorpus(tmp_path, 40), sae, _source(x, 10), _settings(), progress=False)
    other = StandInCorpus(tmp_path, 40, content_hash="beef")
    with pytest.raises(StoreError, match="another corpus"):
        open_firings(other, sae)
    with pytest.raises(StoreError, match="another corpus"):
        encode_activations(other, sae, _source(x, 10), _settings(), progress=False)
    grown = StandInCorpus(tmp_path, 41)
    with pytest.raises(StoreError, match="another corpus.*n_tokens"):
        open_firings(grown, sae)


def test_manifest_naming_another_sae_is_refused(tmp_path):
    import json

    sae = random_sae(8, 12, seed=6)
    corpus = StandInCorpus(tmp_path, 30)
    f = encode_activations(corpus, sae, _source(torch.randn(30, 8), 10), _settings(), progress=False)
    m = json.loads(f.layout.manifest_path.read_text())
    m["sae"]["sae_id"] = "ffffffffffffffff"
    f.layout.manifest_path.write_text(json.dumps(m))
    with pytest.raises(StoreError, match="names SAE ffffffffffffffff"):
        open_firings(corpus, sae)


def test_missing_or_changed_parts_are_refused(tmp_path):
    sae = random_sae(8, 12, seed=7)
    corpus = StandInCorpus(tmp_path, 60)
    f = encode_activations(corpus, sae, _source(torch.randn(60, 8), 10), _settings(part_rows=40), progress=False)
    with f.parts[0].open("ab") as fh:
        fh.write(b"x")
    with pytest.raises(StoreError, match="changed after it was written"):
        open_firings(corpus, sae)
    f.parts[0].unlink()
    with pytest.raises(StoreError, match="is missing"):
        open_firings(corpus, sae)


def test_missing_firings_say_how_to_encode(tmp_path):
    with pytest.raises(StoreError, match="tokrex encode --sae"):
        open_firings(StandInCorpus(tmp_path, 5), random_sae(8, 12))


def test_width_mismatch_is_an_sae_error(tmp_path):
    from tokrex.errors import SaeError

    sae = random_sae(8, 12)
    with pytest.raises(SaeError, match="8-wide"):
        encode_activations(StandInCorpus(tmp_path, 20), sae, _source(torch.randn(20, 9), 10), _settings(), progress=False)


def test_activations_out_of_order_are_refused(tmp_path):
    sae = random_sae(8, 12)

    def source(start):
        yield start + 3, torch.randn(5, 8)

    with pytest.raises(ActivationError, match="out of order"):
        encode_activations(StandInCorpus(tmp_path, 20), sae, source, _settings(), progress=False)


@pytest.mark.parametrize("chunks", [[5, 5, 5], [64], [1] * 20, [31, 2, 40, 1, 9], [33, 0, 33]])
def test_aligned_blocks(chunks):
    x = torch.arange(sum(chunks), dtype=torch.float32)[:, None] + 100
    start = 16

    def gen():
        pos = start
        for c in chunks:
            yield pos, x[pos - start : pos - start + c]
            pos += c

    blocks = list(_aligned_blocks(gen(), start, 16))
    assert all(p % 16 == 0 for p, _ in blocks)
    assert all(len(b) == 16 for _, b in blocks[:-1])
    assert torch.equal(torch.cat([b for _, b in blocks]), x)
    assert [p for p, _ in blocks] == list(range(start, start + 16 * len(blocks), 16))


def test_settings_default_to_the_sae_and_flags_override():
    sae = random_sae(8, 12)
    sae.meta = SaeMeta(model="m", layer=3, hook="mlp_out", ctx=64)
    s = resolve_settings(sae, EncodeConfig(device="cpu"))
    assert (s["model"], s["layer"], s["hook"], s["ctx"], s["dtype"]) == ("m", 3, "mlp_out", 64, "float32")
    s = resolve_settings(sae, EncodeConfig(model="other", layer=1, ctx=8, device="cpu", batch_size=10))
    assert (s["model"], s["layer"], s["ctx"], s["block_tokens"]) == ("other", 1, 8, 10)
    assert resolve_settings(sae, EncodeConfig(device="cpu"))["block_tokens"] == default_block(12) == 4096
    assert default_block(1 << 17) == 512


def test_missing_model_or_layer_name_the_flag():
    sae = random_sae(8, 12)
    sae.meta = SaeMeta(model=None, layer=2)
    with pytest.raises(UsageError, match="--model"):
        resolve_settings(sae, EncodeConfig(device="cpu"))
    sae.meta = SaeMeta(model="m", layer=None)
    with pytest.raises(UsageError, match="--layer"):
        resolve_settings(sae, EncodeConfig(device="cpu"))
    with pytest.raises(UsageError, match="float32"):
        resolve_settings(sae, EncodeConfig(model="m", layer=0, device="cpu", dtype="bfloat16"))


def test_encode_config_checks_fields():
    for bad in ({"layer": -2}, {"ctx": 0}, {"batch_size": 0}, {"part_rows": 0}, {"dtype": "int8"}):
        with pytest.raises(ValueError):
            EncodeConfig(**bad)


def test_parallel_part_writers_commit_in_order(tmp_path, monkeypatch):
    n_tokens = 600
    sae = random_sae(16, 30, activation="topk", k=5, seed=8)
    x = torch.randn(n_tokens, 16, generator=torch.Generator().manual_seed(2))
    one = encode_activations(StandInCorpus(tmp_path / "a", n_tokens), sae, _source(x, 40), _settings(part_rows=60),
                             progress=False)
    monkeypatch.setattr("os.cpu_count", lambda: 8)  # four writer threads
    corpus = StandInCorpus(tmp_path / "b", n_tokens)
    with pytest.raises(KeyboardInterrupt):
        encode_activations(corpus, sae, _source(x, 40, fail_after=9), _settings(part_rows=60), progress=False)
    many = encode_activations(corpus, sae, _source(x, 40), _settings(part_rows=60), progress=False)
    assert len(one.parts) > 8
    assert [p["digest"] for p in many.manifest["parts"]] == [p["digest"] for p in one.manifest["parts"]]
    assert many.latents().equals(one.latents())


def test_a_second_writer_is_refused_while_one_encodes(tmp_path):
    import fcntl

    sae = random_sae(8, 12, seed=9)
    corpus = StandInCorpus(tmp_path, 20)
    from tokrex.store.reader import sae_key

    lock = tmp_path / "saes" / f".{sae_key(sae)}.lock"
    lock.parent.mkdir(parents=True)
    with open(lock, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        with pytest.raises(StoreError, match="Another process is encoding"):
            encode_activations(corpus, sae, _source(torch.randn(20, 8), 10), _settings(), progress=False)
    assert encode_activations(corpus, sae, _source(torch.randn(20, 8), 10), _settings(), progress=False).n_tokens == 20


def test_every_encode_config_field_is_a_cli_option_with_help():
    import dataclasses

    import typer.main

    from tokrex.cli.app import app

    group = typer.main.get_command(app)
    cmd = group.commands["encode"]
    options = {opt: p for p in cmd.params if p.param_type_name == "option" for opt in p.opts}
    for field in dataclasses.fields(EncodeConfig):
        flag = "--" + field.name.replace("_", "-")
        assert flag in options, flag
        assert options[flag].help, flag


def test_sae_id_follows_weight_changes():
    from tokrex.sae.load import sae_id
    from tokrex.store.reader import sae_key

    sae = random_sae(8, 12, seed=10)
    first = sae_key(sae)
    assert first == sae_id(sae) == sae_key(sae)
    with torch.no_grad():
        sae.W_enc.add_(1.0)
    assert sae_key(sae) == sae_id(sae) != first
