"""End-to-end training on the tiny GPT-2: FVU falls, structure is right, runs are reproducible and resumable."""

from __future__ import annotations

import json

import pytest
import torch

from train_fixtures import gpt2_wide_model_dir, train_store, one_thread  # noqa: F401

from tokrex.corpus import open_corpus
from tokrex.errors import ActivationError, UsageError
from tokrex.sae.checkpoint import load_checkpoint, load_train_state
from tokrex.sae.config import TrainConfig
from tokrex.sae.train import train

pytestmark = pytest.mark.usefixtures("one_thread")


def _cfg(model, **kw):
    base = dict(model=str(model), layer=0, ctx=32, latents=64, k=4, tokens=128 * 80, batch_size=128, device="cpu",
                log_every=10, holdout=2048, resort_every=40, min_prefix=4)
    base.update(kw)
    return TrainConfig(**base)


def _weights(sae):
    return {n: getattr(sae, n).detach().clone() for n in ("W_enc", "b_enc", "W_dec", "b_dec", "threshold")}


def test_matryoshka_batchtopk_learns(train_store, gpt2_model_dir, tmp_path):
    events = []
    res = train(open_corpus(train_store), _cfg(gpt2_model_dir), out=tmp_path / "ck", progress=events.append,
                show_progress=False)
    steps = [e for e in events if e["event"] == "step"]
    assert steps[-1]["fvu"] < 0.75 * steps[0]["fvu"]
    assert set(steps[-1]["fvu_prefix"]) == {"4", "16", "64"}
    held = res.summary["holdout"]
    assert 1000 < held["n_tokens"] <= 2048 and held["fvu"] < 0.6
    assert [p["prefix"] for p in held["prefixes"]] == [4, 16, 64]
    assert held["prefixes"][0]["fvu"] >= held["prefixes"][1]["fvu"] >= held["prefixes"][2]["fvu"]
    assert 2 <= held["l0"] <= 6  # BatchTopK's inference threshold keeps about k active
    sae = res.sae
    torch.testing.assert_close(sae.W_dec.norm(dim=1), torch.ones(64), atol=1e-4, rtol=0)
    # latents were re-sorted by usage: early latents fire more often than late ones
    from tokrex.activations import ActivationConfig, iter_activations

    acts = next(iter_activations(open_corpus(train_store), ActivationConfig(model=str(gpt2_model_dir), layer=0, ctx=32)))[1]
    freq = (sae.encode(acts[:4000]) > 0).float().mean(0)
    assert freq[:16].mean() > freq[32:].mean()
    # the checkpoint, its metrics log and its summary
    back = load_checkpoint(tmp_path / "ck")
    assert torch.equal(back.W_enc, sae.W_enc) and back.arch.groups == [4, 16, 64]
    assert back.meta.layer == 0 and back.meta.ctx == 32 and back.meta.tokenizer_hash == open_corpus(train_store).tokenizer_hash
    assert back.meta.extra["training"]["holdout"]["fvu"] == held["fvu"]
    lines = (tmp_path / "ck" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 8 and json.loads(lines[-1])["step"] == 80


def test_fixed_groups_topk(train_store, gpt2_model_dir):
    res = train(open_corpus(train_store), _cfg(gpt2_model_dir, arch="topk", groups=[8, 32], tokens=128 * 60),
                show_progress=False)
    assert res.sae.arch.groups == [8, 32, 64] and res.summary["objective"] == "matryoshka-groups"
    assert [p["prefix"] for p in res.summary["holdout"]["prefixes"]] == [8, 32, 64]
    assert res.summary["holdout"]["l0"] == pytest.approx(4.0)


def test_vanilla_relu_moves_l0_toward_target(train_store, gpt2_model_dir):
    events = []
    res = train(open_corpus(train_store), _cfg(gpt2_model_dir, objective="vanilla", k=None, l0=6, tokens=128 * 150),
                progress=events.append, show_progress=False)
    steps = [e for e in events if e["event"] == "step"]
    assert res.sae.arch.groups == [64] and res.sae.arch.activation == "relu"
    assert steps[0]["l0"] > 15 and steps[-1]["l0"] < 0.6 * steps[0]["l0"]
    assert steps[-1]["l1_coef"] > steps[0]["l1_coef"]
    # the L1 SAE still reconstructs: L0 comes down toward the target without collapsing to FVU ~ 1
    held = res.summary["holdout"]
    assert 3 < held["l0"] < 12 and held["fvu"] < 0.5 and res.summary["dead_latents"] < 8


def test_same_seed_same_sae_on_cpu(train_store, gpt2_model_dir):
    corpus = open_corpus(train_store)
    a = train(corpus, _cfg(gpt2_model_dir, tokens=128 * 30), show_progress=False).sae
    b = train(corpus, _cfg(gpt2_model_dir, tokens=128 * 30), show_progress=False).sae
    c = train(corpus, _cfg(gpt2_model_dir, tokens=128 * 30, seed=1), show_progress=False).sae
    wa, wb = _weights(a), _weights(b)
    assert all(torch.equal(wa[n], wb[n]) for n in wa)
    assert not torch.equal(wa["W_enc"], _weights(c)["W_enc"])


def test_interrupted_run_resumes_to_the_same_sae(train_store, gpt2_model_dir, tmp_path):
    corpus = open_corpus(train_store)
    cfg = _cfg(gpt2_model_dir, tokens=128 * 60, resort_every=20)
    whole = train(corpus, cfg, out=tmp_path / "whole", show_progress=False).sae

    def ctrl_c_at_30(event):
        if event["event"] == "step" and event["step"] == 30:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(corpus, cfg, out=tmp_path / "cut", progress=ctrl_c_at_30, show_progress=False)
    tensors, info = load_train_state(tmp_path / "cut")
    assert info["step"] == 30 and not info["complete"] and "adam.W_enc.exp_avg" in tensors
    with pytest.raises(UsageError, match="--resume"):
        train(corpus, cfg, out=tmp_path / "cut", show_progress=False)
    with open(tmp_path / "cut" / "metrics.jsonl", "a") as f:
        f.write('{"step": 35}\n')  # logged after the last save by a run that then crashed
    resumed = train(corpus, cfg, out=tmp_path / "cut", resume=True, show_progress=False)
    logged = [json.loads(line)["step"] for line in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert logged == list(range(10, 61, 10))
    w1, w2 = _weights(whole), _weights(resumed.sae)
    assert all(torch.equal(w1[n], w2[n]) for n in w1)
    assert resumed.summary["steps"] == 60
    with pytest.raises(UsageError, match="options differ"):
        train(corpus, _cfg(gpt2_model_dir, tokens=128 * 60, resort_every=20, latents=128), out=tmp_path / "cut",
              resume=True, show_progress=False)


def test_streaming_mode_trains_without_a_cache(train_store, gpt2_model_dir, tmp_path):
    import shutil

    store = tmp_path / "store"
    shutil.copytree(train_store, store, ignore=shutil.ignore_patterns("activations"))
    res = train(open_corpus(store), _cfg(gpt2_model_dir, data="stream", tokens=128 * 20, buffer=4096),
                show_progress=False)
    assert res.summary["data"] == "stream" and res.summary["steps"] == 20
    assert not (store / "activations").exists()


def test_resume_without_state_and_tokenizer_mismatch(train_store, gpt2_model_dir, bert_model_dir, tmp_path):
    corpus = open_corpus(train_store)
    with pytest.raises(UsageError, match="no resumable"):
        train(corpus, _cfg(gpt2_model_dir), out=tmp_path / "none", resume=True)
    with pytest.raises(ActivationError, match="tokenizer"):
        train(corpus, _cfg(bert_model_dir), show_progress=False)


def _interrupted_run(corpus, cfg, out):
    def ctrl_c_at_10(event):
        if event["event"] == "step" and event["step"] == 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(corpus, cfg, out=out, progress=ctrl_c_at_10, show_progress=False)


def test_resume_refuses_another_width_model_and_corpus(train_store, gpt2_model_dir, gpt2_wide_model_dir,
                                                       tmp_path_factory, tmp_path):
    from train_fixtures import build_store

    from conftest import TEXTS
    from tokrex.errors import SaeError

    corpus = open_corpus(train_store)
    _interrupted_run(corpus, _cfg(gpt2_model_dir, tokens=128 * 40), tmp_path / "cut")
    # a model of another width: one sentence naming both widths, before anything is computed
    with pytest.raises(SaeError, match=r"^The saved run's SAE reads 32-wide activations but model .* has width 48"):
        train(corpus, _cfg(gpt2_wide_model_dir, tokens=128 * 40), out=tmp_path / "cut", resume=True,
              show_progress=False)
    # the same tokenizer over other documents: another corpus
    other = open_corpus(build_store(tmp_path_factory, gpt2_model_dir, "othercorpus", TEXTS * 40))
    with pytest.raises(UsageError, match="another corpus store"):
        train(other, _cfg(gpt2_model_dir, tokens=128 * 40), out=tmp_path / "cut", resume=True, show_progress=False)
    assert load_train_state(tmp_path / "cut")[1]["step"] == 10


def test_relative_model_path_is_recorded_absolute(train_store, gpt2_model_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(gpt2_model_dir.parent)
    res = train(open_corpus(train_store), _cfg(gpt2_model_dir.name, tokens=128 * 10), out=tmp_path / "ck",
                show_progress=False)
    assert res.sae.meta.model == str(gpt2_model_dir)
    cfg = json.loads((tmp_path / "ck" / "cfg.json").read_text())
    assert cfg["model"]["name"] == str(gpt2_model_dir) and set(cfg["model"]) == {"name", "config_hash", "weights_fingerprint"}


def test_foreign_out_directory_is_refused_before_any_work(train_store, gpt2_model_dir, tmp_path):
    from train_fixtures import fresh_copy

    from tokrex.errors import SaeError

    store = fresh_copy(train_store, tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(SaeError, match="not a tokrex checkpoint"):
        train(open_corpus(store), _cfg(gpt2_model_dir), out=tmp_path / "out", show_progress=False)
    assert not (store / "activations").exists()  # refused before caching anything
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"


def test_ctrl_c_during_the_final_evaluation_keeps_the_trained_weights(train_store, gpt2_model_dir, tmp_path, monkeypatch):
    import tokrex.sae.train as train_module

    corpus = open_corpus(train_store)
    cfg = _cfg(gpt2_model_dir, tokens=128 * 30, groups=[16, 64], save_every=0)
    whole = train(corpus, cfg, show_progress=False)
    real_summary = train_module._summary

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "_summary", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        train(corpus, cfg, out=tmp_path / "ck", show_progress=False)
    tensors, info = load_train_state(tmp_path / "ck")
    assert info["step"] == 30 and not info["complete"]  # the trained weights were saved, not the step-0 ones
    monkeypatch.setattr(train_module, "_summary", real_summary)
    resumed = train(corpus, cfg, out=tmp_path / "ck", resume=True, show_progress=False)
    assert resumed.summary["steps"] == 30 and load_train_state(tmp_path / "ck")[1]["complete"]
    w1, w2 = _weights(whole.sae), _weights(resumed.sae)
    assert all(torch.equal(w1[n], w2[n]) for n in w1)
    assert resumed.summary["holdout"] == whole.summary["holdout"]
