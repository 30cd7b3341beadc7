"""The same pipeline on CUDA: activations under bf16 autocast, training on the GPU."""

from __future__ import annotations

import pytest
import torch

from train_fixtures import train_store  # noqa: F401

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def test_cuda_activations_match_cpu(train_store, gpt2_model_dir):
    from tokrex.activations import ActivationConfig, iter_activations
    from tokrex.corpus import open_corpus

    corpus = open_corpus(train_store)
    cpu = next(iter_activations(corpus, ActivationConfig(model=str(gpt2_model_dir), layer=1, ctx=32, device="cpu"),
                                stop_token=2000))[1]
    gpu = next(iter_activations(corpus, ActivationConfig(model=str(gpt2_model_dir), layer=1, ctx=32, device="cuda"),
                                stop_token=2000))[1]
    rel = (gpu - cpu).norm() / cpu.norm()
    assert gpu.shape == cpu.shape and rel < 0.05  # bf16 autocast


def test_cuda_training(train_store, gpt2_model_dir, tmp_path):
    from tokrex.corpus import open_corpus
    from tokrex.sae.checkpoint import load_checkpoint
    from tokrex.sae.config import TrainConfig
    from tokrex.sae.train import train

    events = []
    cfg = TrainConfig(model=str(gpt2_model_dir), layer=0, ctx=32, latents=64, k=4, tokens=128 * 80, batch_size=128,
                      device="cuda", log_every=10, holdout=2048, min_prefix=4, resort_every=40)
    res = train(open_corpus(train_store), cfg, out=tmp_path / "ck", progress=events.append, show_progress=False)
    steps = [e for e in events if e["event"] == "step"]
    assert steps[-1]["fvu"] < 0.75 * steps[0]["fvu"] and res.summary["holdout"]["fvu"] < 0.6
    assert res.sae.W_enc.is_cuda
    assert load_checkpoint(tmp_path / "ck").W_enc.device.type == "cpu"
