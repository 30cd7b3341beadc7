"""Activations: the hooked layer is hidden_states[N+1], windows, special tokens, row alignment."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from train_fixtures import bert_store, train_store, one_thread  # noqa: F401

from tokrex.activations import ActivationConfig, iter_activations, load_model, make_windows
from tokrex.activations.model import capture, run_windows
from tokrex.errors import ActivationError

pytestmark = pytest.mark.usefixtures("one_thread")


def _ids(lm, n=20, seed=0):
    g = np.random.default_rng(seed)
    return g.integers(5, len(lm.tokenizer) - 1, size=n)


@pytest.mark.parametrize("which", ["gpt2_model_dir", "bert_model_dir"])
@pytest.mark.parametrize("layer", [-1, 0, 1])
def test_hooked_layer_is_hidden_states(request, which, layer):
    lm = load_model(str(request.getfixturevalue(which)), "cpu")
    ids = torch.tensor(np.stack([_ids(lm, 12, 0), _ids(lm, 12, 1)]))
    mask = torch.ones_like(ids)
    with torch.no_grad():
        ref = lm.model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[layer + 1]
        got = capture(lm, ids, mask, layer, "resid_post")
    torch.testing.assert_close(got, ref, rtol=0, atol=0)


def test_hook_removed_and_forward_stops_early(gpt2_model_dir):
    lm = load_model(str(gpt2_model_dir), "cpu")
    ran = []
    handle = lm.blocks[1].register_forward_hook(lambda *a: ran.append(1))
    try:
        ids = torch.from_numpy(_ids(lm, 8)[None])
        with torch.no_grad():
            capture(lm, ids, torch.ones_like(ids), 0, "resid_post")
    finally:
        handle.remove()
    assert ran == []  # block 1 never ran
    assert all(not b._forward_hooks for b in lm.blocks)


def test_mlp_and_attn_outputs_add_up_to_the_block(gpt2_model_dir):
    lm = load_model(str(gpt2_model_dir), "cpu")
    ids = torch.from_numpy(_ids(lm, 10)[None])
    mask = torch.ones_like(ids)
    with torch.no_grad():
        hs = lm.model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        attn = capture(lm, ids, mask, 0, "attn_out")
        mlp = capture(lm, ids, mask, 0, "mlp_out")
    torch.testing.assert_close(hs[0] + attn + mlp, hs[1], rtol=1e-5, atol=1e-5)


def test_bert_hooks_exist(bert_model_dir):
    lm = load_model(str(bert_model_dir), "cpu")
    ids = torch.from_numpy(_ids(lm, 6)[None])
    with torch.no_grad():
        for hook in ("mlp_out", "attn_out"):
            assert capture(lm, ids, torch.ones_like(ids), 1, hook).shape == (1, 6, 32)


def test_unknown_layer_and_hook_are_clear_errors(gpt2_model_dir):
    from tokrex.activations.model import _submodule, check_layer

    lm = load_model(str(gpt2_model_dir), "cpu")
    with pytest.raises(ActivationError, match="out of range"):
        check_layer(lm, 5, "resid_post")
    with pytest.raises(ActivationError, match="not available"):
        _submodule(torch.nn.Linear(2, 2), "mlp_out")


def test_special_tokens_per_family(gpt2_model_dir, bert_model_dir):
    gpt2, bert = load_model(str(gpt2_model_dir), "cpu"), load_model(str(bert_model_dir), "cpu")
    assert (gpt2.prefix, gpt2.suffix) == ([], [])
    assert bert.prefix == [bert.tokenizer.cls_token_id] and bert.suffix == [bert.tokenizer.sep_token_id]


def test_windows_tile_documents_and_never_span_two():
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 40, size=50)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    w = make_windows(offsets, 7)
    assert w.lengths.min() >= 1 and w.lengths.max() <= 7
    assert np.array_equal(np.concatenate([np.arange(s, e) for s, e in zip(w.starts, w.ends)]), np.arange(offsets[-1]))
    doc_of_start = np.searchsorted(offsets, w.starts, side="right") - 1
    doc_of_last = np.searchsorted(offsets, w.ends - 1, side="right") - 1
    assert np.array_equal(doc_of_start, doc_of_last)
    # a new window starts at every document start and every ctx tokens inside a document
    assert set(offsets[:-1][lengths > 0]) <= set(w.starts)


@pytest.mark.parametrize("which,store", [("gpt2_model_dir", "train_store"), ("bert_model_dir", "bert_store")])
def test_rows_align_with_corpus_positions(request, which, store):
    from tokrex.corpus import open_corpus

    model = request.getfixturevalue(which)
    corpus = open_corpus(request.getfixturevalue(store))
    cfg = ActivationConfig(model=str(model), layer=0, ctx=16, device="cpu")
    rows = torch.cat([r for _, r in iter_activations(corpus, cfg)])
    assert rows.shape == (corpus.n_tokens, 32)
    lm = load_model(str(model), "cpu")
    offsets = corpus.doc_offsets
    for doc in (0, 3, corpus.n_docs - 1):
        lo, hi = int(offsets[doc]), int(offsets[doc + 1])
        start = lo + 16 * ((hi - lo - 1) // 16)  # the document's last (maybe short) window
        ids = [*lm.prefix, *corpus.ids[start:hi].tolist(), *lm.suffix]
        with torch.no_grad():
            hs = lm.model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states[1][0]
        ref = hs[len(lm.prefix) : len(lm.prefix) + hi - start].to(torch.float16).float()
        torch.testing.assert_close(rows[start:hi], ref, rtol=2e-3, atol=2e-3)


def test_iter_activations_ranges(train_store, gpt2_model_dir):
    from tokrex.corpus import open_corpus

    corpus = open_corpus(train_store)
    cfg = ActivationConfig(model=str(gpt2_model_dir), layer=1, ctx=32, device="cpu", shard_tokens=3000)
    full = torch.cat([r for _, r in iter_activations(corpus, cfg)])
    starts = [s for s, _ in iter_activations(corpus, cfg, 4000, stop_token=9000)]
    part = torch.cat([r for _, r in iter_activations(corpus, cfg, 4000, stop_token=9000)])
    assert starts[0] == 4000 and part.shape[0] == 5000
    torch.testing.assert_close(part, full[4000:9000], rtol=1e-3, atol=1e-3)


def test_run_windows_padding_matches_single_windows(gpt2_model_dir):
    lm = load_model(str(gpt2_model_dir), "cpu")
    wins = [_ids(lm, 12, 0), _ids(lm, 5, 1), _ids(lm, 9, 2)]
    batched = run_windows(lm, wins, 0, "resid_post")
    for w, b in zip(wins, batched):
        alone = run_windows(lm, [w], 0, "resid_post")[0]
        torch.testing.assert_close(b, alone, rtol=1e-5, atol=1e-5)


def test_mismatched_tokenizer_is_one_sentence(train_store, bert_model_dir):
    from tokrex.corpus import open_corpus

    cfg = ActivationConfig(model=str(bert_model_dir), layer=0)
    with pytest.raises(ActivationError, match="tokenizer") as err:
        next(iter_activations(open_corpus(train_store), cfg))
    assert "\n" not in str(err.value)


def test_missing_model_is_clear(train_store, tmp_path):
    from tokrex.corpus import open_corpus

    cfg = ActivationConfig(model=str(tmp_path / "nope"), layer=0)
    with pytest.raises(ActivationError, match="never downloads"):
        next(iter_activations(open_corpus(train_store), cfg))


def test_truncated_model_weights_are_one_sentence(gpt2_model_dir, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(gpt2_model_dir, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:5000])
    with pytest.raises(ActivationError, match=r"^Could not load the model in .*; check that its weight files are complete\.$") as err:
        load_model(str(broken), "cpu")
    assert "\n" not in str(err.value)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError):
        ActivationConfig(model="m", layer=-2)
    with pytest.raises(ValueError):
        ActivationConfig(model="m", layer=0, hook="nope")
    with pytest.raises(ValueError):
        ActivationConfig(model="m", layer=0, ctx=0)


@pytest.fixture(scope="module")
def other_family_dirs(tmp_path_factory, gpt2_tokenizer_dir):
    """Tiny random Llama (its tokenizer adds BOS) and GPT-NeoX models, saved as HF directories."""
    from tokenizers import processors
    from transformers import AutoTokenizer, GPTNeoXConfig, GPTNeoXModel, LlamaConfig, LlamaModel

    dirs = {}
    for name in ("llama", "neox"):
        tok = AutoTokenizer.from_pretrained(gpt2_tokenizer_dir)
        if name == "llama":
            bos = tok.bos_token_id
            tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
                single="<|endoftext|> $A", pair="<|endoftext|> $A $B", special_tokens=[("<|endoftext|>", bos)])
            cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256)
            model = LlamaModel(cfg)
        else:
            cfg = GPTNeoXConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                num_attention_heads=2, max_position_embeddings=256)
            model = GPTNeoXModel(cfg)
        out = tmp_path_factory.mktemp(name)
        model.save_pretrained(out)
        tok.save_pretrained(out)
        dirs[name] = out
    return dirs


@pytest.mark.parametrize("family", ["llama", "neox"])
def test_other_families(other_family_dirs, family):
    lm = load_model(str(other_family_dirs[family]), "cpu")
    assert lm.prefix == ([lm.tokenizer.bos_token_id] if family == "llama" else []) and lm.suffix == []
    ids = torch.from_numpy(_ids(lm, 9)[None])
    mask = torch.ones_like(ids)
    with torch.no_grad():
        hs = lm.model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        for layer in (0, 1):
            torch.testing.assert_close(capture(lm, ids, mask, layer, "resid_post"), hs[layer + 1], rtol=0, atol=0)
        for hook in ("mlp_out", "attn_out"):
            assert capture(lm, ids, mask, 0, hook).shape == (1, 9, 32)
