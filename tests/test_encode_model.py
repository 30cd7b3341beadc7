"""Encoding with a real (tiny) transformers model: activations per the windowing rules, mismatches refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from store_fixtures import corpus_copy, gpt2_sae_dir, random_sae, sparse_of, store_corpus, stored  # noqa: F401
from tokrex.errors import SaeError, UsageError
from tokrex.sae.meta import SaeMeta
from tokrex.store import EncodeConfig, encode, ensure_firings, open_firings


def test_encode_matches_activations_through_the_sae(corpus_copy, gpt2_sae_dir, gpt2_model_dir):
    from tokrex.activations import ActivationConfig, iter_activations
    from tokrex.sae.load import load_sae

    sae = load_sae(gpt2_sae_dir, device="cpu")
    f = encode(corpus_copy, sae, EncodeConfig(device="cpu", batch_size=64, part_rows=300), progress=False)
    assert f.manifest["model"] == str(gpt2_model_dir) and f.manifest["layer"] == 0 and f.manifest["ctx"] == 16
    assert f.manifest["dtype"] == "float32" and len(f.parts) > 1
    acts = torch.cat([a for _, a in iter_activations(corpus_copy, ActivationConfig(str(gpt2_model_dir), 0, ctx=16, device="cpu"))])
    assert acts.shape == (corpus_copy.n_tokens, 32)
    with torch.inference_mode():
        dense = sae.encode(acts).numpy()
    token, latent, act = sparse_of(dense)
    t = f.read()
    assert np.array_equal(t["token"].to_numpy(), token)
    assert np.array_equal(t["latent"].to_numpy(), latent)
    assert np.array_equal(t["act"].to_numpy(), stored(act))
    assert f.token_index().offsets[-1] == len(token)  # encode leaves the token index built
    # ensure_firings opens them as they are
    g = ensure_firings(corpus_copy, sae, progress=False)
    assert g.manifest["run_id"] == f.manifest["run_id"]


def test_ensure_firings_encodes_when_missing(corpus_copy, gpt2_sae_dir):
    from tokrex.sae.load import load_sae

    sae = load_sae(gpt2_sae_dir, device="cpu")
    f = ensure_firings(corpus_copy, sae, progress=False, device="cpu")
    assert open_firings(corpus_copy, sae).n_firings == f.n_firings > 0


def test_flags_override_the_sae_record(corpus_copy, gpt2_sae_dir):
    from tokrex.sae.load import load_sae

    sae = load_sae(gpt2_sae_dir, device="cpu")
    f = encode(corpus_copy, sae, EncodeConfig(layer=1, ctx=8, device="cpu"), progress=False)
    assert (f.manifest["layer"], f.manifest["ctx"]) == (1, 8)


def test_sae_width_differs_from_the_model(corpus_copy, gpt2_model_dir):
    sae = random_sae(16, 20)
    sae.meta = SaeMeta(model=str(gpt2_model_dir), layer=0)
    with pytest.raises(SaeError, match="16-wide.*width 32"):
        encode(corpus_copy, sae, EncodeConfig(device="cpu"), progress=False)


def test_model_with_another_tokenizer_is_refused(corpus_copy, bert_model_dir):
    sae = random_sae(32, 20)
    sae.meta = SaeMeta(model=str(bert_model_dir), layer=0)
    with pytest.raises(SaeError, match="another tokenizer"):
        encode(corpus_copy, sae, EncodeConfig(device="cpu"), progress=False)


def test_sae_recording_another_tokenizer_is_refused(corpus_copy, gpt2_model_dir):
    sae = random_sae(32, 20)
    sae.meta = SaeMeta(model=str(gpt2_model_dir), layer=0, tokenizer_hash="0" * 64)
    with pytest.raises(SaeError, match="tokenizer differs"):
        encode(corpus_copy, sae, EncodeConfig(device="cpu"), progress=False)


def test_unknown_model_layer_is_a_usage_error(corpus_copy):
    sae = random_sae(32, 20)
    sae.meta = SaeMeta(model=None, layer=None)
    with pytest.raises(UsageError, match="--model"):
        encode(corpus_copy, sae, EncodeConfig(device="cpu"), progress=False)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_encode_agrees_with_cpu(corpus_copy, gpt2_sae_dir):
    from tokrex.sae.load import load_sae

    cpu = encode(corpus_copy, load_sae(gpt2_sae_dir, device="cpu"), EncodeConfig(device="cpu"), progress=False).read()
    sae = load_sae(gpt2_sae_dir, device="cuda")
    gpu = encode(corpus_copy, sae, EncodeConfig(device="cuda", dtype="float32", overwrite=True), progress=False).read()
    a = set(zip(cpu["token"].to_pylist(), cpu["latent"].to_pylist()))
    b = set(zip(gpu["token"].to_pylist(), gpu["latent"].to_pylist()))
    assert len(a ^ b) <= 0.01 * len(a)


def test_out_of_range_layer_is_refused_before_overwrite_deletes(corpus_copy, gpt2_sae_dir):
    from tokrex.errors import ActivationError
    from tokrex.sae.load import load_sae

    sae = load_sae(gpt2_sae_dir, device="cpu")
    f = encode(corpus_copy, sae, EncodeConfig(device="cpu"), progress=False)
    with pytest.raises(ActivationError, match="--layer 5 is out of range.*2 blocks"):
        encode(corpus_copy, sae, EncodeConfig(device="cpu", layer=5, overwrite=True), progress=False)
    assert open_firings(corpus_copy, sae).manifest["run_id"] == f.manifest["run_id"]  # nothing was deleted


def test_recorded_model_missing_locally_says_to_pass_model(corpus_copy):
    from tokrex.errors import ActivationError

    sae = random_sae(32, 20)
    sae.meta = SaeMeta(model="no-such-org/no-such-model", layer=0)
    with pytest.raises(ActivationError, match="records model 'no-such-org/no-such-model'.*--model DIR"):
        encode(corpus_copy, sae, EncodeConfig(device="cpu"), progress=False)
    assert not (corpus_copy.path / "saes").exists()
