"""Training building blocks: nested prefix losses, prefix sampling, TopK counts, permutation, schedule."""

from __future__ import annotations

import pytest
import torch

from train_fixtures import random_sae, one_thread  # noqa: F401

from tokrex.sae.config import TrainConfig, parse_count
from tokrex.sae.init import normalize_decoder, permute_latents, project_decoder_grad, usage_order
from tokrex.sae.objectives import encode_train, nested_mse, report_prefixes, sample_prefixes, step_loss
from tokrex.sae.schedule import update_l1, wsd_lr

pytestmark = pytest.mark.usefixtures("one_thread")


def test_prefix_losses_use_nested_prefixes():
    sae = random_sae(d=8, n=32)
    x = torch.randn(50, 8)
    _, z = encode_train(sae, x)
    prefixes = [3, 10, 32]
    mse, recon = nested_mse(z, sae, x, prefixes)
    for m, got in zip(prefixes, mse):
        direct = z[:, :m] @ sae.W_dec[:m] + sae.b_dec  # decode with the first m latents only
        torch.testing.assert_close(got, (direct - x).pow(2).mean())
    torch.testing.assert_close(recon, z @ sae.W_dec + sae.b_dec)


def test_random_prefixes_are_summed_and_groups_averaged():
    sae = random_sae(d=8, n=32)
    x = torch.randn(40, 8)
    kw = dict(l1_coef=torch.tensor(0.0), dead=None, auxk_coef=0.0)
    r = step_loss(sae, x, [4, 16, 32], "random", **kw)
    g = step_loss(sae, x, [4, 16, 32], "groups", **kw)
    torch.testing.assert_close(r.recon_loss, r.prefix_mse.sum())
    torch.testing.assert_close(g.recon_loss, g.prefix_mse.mean())


def test_sample_prefixes_always_full_and_biased_short():
    gen = torch.Generator().manual_seed(0)
    draws = []
    for _ in range(200):
        p = sample_prefixes(4096, 8, 16, gen)
        assert p == sorted(set(p)) and p[-1] == 4096 and p[0] >= 16
        draws += p[:-1]
    assert sorted(draws)[len(draws) // 2] < 4096 // 4  # the median draw is short


def test_report_prefixes():
    assert report_prefixes(4096, None, "random") == [64, 256, 1024, 4096]
    assert report_prefixes(64, [8, 64], "groups") == [8, 64]
    assert report_prefixes(64, None, "single") == [64]


@pytest.mark.parametrize("k", [1, 4, 7])
def test_topk_encodings_have_exactly_k_nonzeros(k):
    sae = random_sae(d=8, n=32, activation="topk", k=k)
    with torch.no_grad():
        sae.b_enc.fill_(5.0)  # every pre-activation positive, so exactly k survive
    z = sae.encode(torch.randn(64, 8))
    assert ((z != 0).sum(-1) == k).all()


@pytest.mark.parametrize("skewed", [False, True])
def test_two_stage_batch_topk_is_exact(skewed):
    from tokrex.sae.model import _topk
    from tokrex.sae.objectives import batch_topk

    acts = torch.relu(torch.randn(32, 200, generator=torch.Generator().manual_seed(0)))
    if skewed:
        acts[3] += 10.0  # one row holds far more than 4k of the batch's largest entries: the fallback runs
    got = batch_topk(acts.clone().requires_grad_(), 3)
    assert torch.equal(got, _topk(acts, 3, batch=True)) and int((got > 0).sum()) == 96
    got.sum().backward()


def test_batchtopk_training_keeps_k_per_token_on_average():
    sae = random_sae(d=8, n=32, activation="batchtopk", k=3)
    with torch.no_grad():
        sae.b_enc.fill_(5.0)
    _, z = encode_train(sae, torch.randn(64, 8))
    assert int((z != 0).sum()) == 3 * 64


@pytest.mark.parametrize("activation,k", [("relu", None), ("batchtopk", 4), ("topk", 4)])
def test_permutation_keeps_the_function(activation, k):
    sae = random_sae(d=8, n=32, activation=activation, k=k)
    x = torch.randn(30, 8)
    opt = torch.optim.Adam(sae.parameters(), lr=1e-3)
    sae(x).pow(2).sum().backward()
    opt.step()
    before_z, before_x = sae.encode(x), sae(x)
    state_before = opt.state[sae.W_enc]["exp_avg"].clone()
    usage = torch.rand(32)
    tracker = torch.arange(32)
    perm = usage_order(usage)
    permute_latents(sae, perm, opt, trackers=[usage, tracker])
    torch.testing.assert_close(sae.encode(x), before_z[:, perm])
    torch.testing.assert_close(sae(x), before_x)
    torch.testing.assert_close(opt.state[sae.W_enc]["exp_avg"], state_before[:, perm])
    assert torch.equal(tracker, perm) and (usage[:-1] >= usage[1:]).all()
    # the optimizer keeps working on the permuted parameters
    sae(x).pow(2).sum().backward()
    opt.step()


def test_decoder_norm_handling():
    sae = random_sae(d=8, n=16, activation="topk", k=2)
    normalize_decoder(sae)
    torch.testing.assert_close(sae.W_dec.norm(dim=1), torch.ones(16))
    sae.W_dec.grad = torch.randn(16, 8)
    project_decoder_grad(sae)
    torch.testing.assert_close((sae.W_dec.grad * sae.W_dec).sum(1), torch.zeros(16), atol=1e-6, rtol=0)


def test_wsd_schedule():
    lrs = [wsd_lr(s, 100, 1.0, 0.1, 0.2) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == 1.0 and lrs[50] == 1.0
    assert lrs[80] == 1.0 and lrs[99] == pytest.approx(0.05) and all(a >= b for a, b in zip(lrs[10:], lrs[11:]))


def test_l1_controller_direction():
    c = torch.tensor(1.0)
    assert update_l1(c, torch.tensor(50.0), 10) > c > update_l1(c, torch.tensor(2.0), 10)


def test_parse_count():
    assert parse_count("5M") == 5_000_000 and parse_count("200k") == 200_000 and parse_count("1.5G") == 1_500_000_000
    assert parse_count("4096") == 4096 and parse_count("1e6") == 1_000_000
    with pytest.raises(ValueError):
        parse_count("lots")


def test_config_cross_checks():
    assert TrainConfig(model="m", layer=0).arch == "batchtopk"
    assert TrainConfig(model="m", layer=0).k == 32
    assert TrainConfig(model="m", layer=0, l0=20).arch == "relu"
    assert TrainConfig(model="m", layer=0, latents=8192, groups=[128, 512]).groups == [128, 512, 8192]
    assert TrainConfig(model="m", layer=0).latents == 4096
    assert TrainConfig(model="m", layer=0, groups=[128, 512, 2048, 8192]).latents == 8192  # --latents defaults to the last group end
    with pytest.raises(ValueError, match="alternatives"):
        TrainConfig(model="m", layer=0, k=32, l0=32)
    for bad in (dict(k=4, l0=3), dict(arch="relu"), dict(groups=[512, 128]), dict(objective="vanilla", groups=[8]),
                dict(k=5000), dict(warmup=0.8, decay=0.5), dict(layer=-3), dict(hook="nope"), dict(data="disk")):
        with pytest.raises(ValueError):
            TrainConfig(**{"model": "m", "layer": 0, **bad})


def test_auxk_uses_the_top_dead_latents():
    from tokrex.sae.objectives import auxk_loss, encode_train

    sae = random_sae(d=8, n=32, activation="topk", k=2)
    x = torch.randn(40, 8)
    pre, z = encode_train(sae, x)
    recon = z @ sae.W_dec + sae.b_dec
    dead = torch.zeros(32, dtype=torch.bool)
    assert float(auxk_loss(sae, pre, x, recon, dead)) == 0.0
    dead[::3] = True
    masked = torch.where(dead, torch.relu(pre), torch.zeros_like(pre))
    vals, idx = masked.topk(4, dim=1)  # d_in / 2 = 4 auxiliary latents
    err = x - recon
    err_hat = torch.zeros_like(masked).scatter(1, idx, vals) @ sae.W_dec
    ref = (err_hat - err).pow(2).sum() / (err - err.mean(0)).pow(2).sum()
    torch.testing.assert_close(auxk_loss(sae, pre, x, recon, dead), ref)


def test_l1_penalty_counts_once_per_prefix_a_latent_belongs_to():
    from tokrex.sae.objectives import prefix_weights

    torch.testing.assert_close(prefix_weights(6, [2, 4, 6], "random"), torch.tensor([3.0, 3, 2, 2, 1, 1]))
    torch.testing.assert_close(prefix_weights(6, [2, 4, 6], "groups"), torch.tensor([1.0, 1, 2 / 3, 2 / 3, 1 / 3, 1 / 3]))
    torch.testing.assert_close(prefix_weights(4, [4], "single"), torch.ones(4))
    sae = random_sae(d=8, n=6, activation="relu")
    x = torch.randn(30, 8)
    out = step_loss(sae, x, [2, 4, 6], "random", l1_coef=torch.tensor(0.5), dead=None, auxk_coef=0.0)
    by_hand = 0.5 * (out.z * sae.W_dec.norm(dim=1) * torch.tensor([3.0, 3, 2, 2, 1, 1])).sum(1).mean()
    torch.testing.assert_close(out.sparsity_loss, by_hand)


def test_resampling_reinitializes_only_dead_latents_toward_the_worst_errors():
    from tokrex.sae.init import resample_dead

    sae = random_sae(d=8, n=10, activation="relu")
    opt = torch.optim.Adam(sae.parameters(), lr=1e-3)
    sae(torch.randn(4, 8)).sum().backward()
    opt.step()
    before = {k: v.detach().clone() for k, v in sae.named_parameters()}
    dead = torch.zeros(10, dtype=torch.bool)
    dead[[2, 7]] = True
    x = torch.zeros(5, 8)
    x[3, 1] = 4.0  # the only badly reconstructed row
    recon = torch.zeros(5, 8)
    assert resample_dead(sae, dead, x, recon, opt, torch.Generator().manual_seed(0)) == 2
    for i in (2, 7):
        assert sae.W_dec[i, 1] > 0 and sae.W_dec[i].abs().argmax() == 1  # points at the residual
        assert float(sae.b_enc[i]) == 0.0
        assert float(opt.state[sae.W_dec]["exp_avg"][i].abs().sum()) == 0.0
    alive = ~dead
    torch.testing.assert_close(sae.W_dec[alive], before["W_dec"][alive])
    torch.testing.assert_close(sae.W_enc[:, alive], before["W_enc"][:, alive])
    assert resample_dead(sae, torch.zeros(10, dtype=torch.bool), x, recon, opt, torch.Generator()) == 0


def test_l1_warmup_ramps_and_new_options_are_checked():
    with pytest.raises(ValueError, match="l1-warmup"):
        TrainConfig(model="m", layer=0, l0=4, l1_warmup=1.0)
    with pytest.raises(ValueError, match="l1-rate"):
        TrainConfig(model="m", layer=0, l0=4, l1_rate=0)


def test_l1_coefficient_ramps_up_over_the_warmup():
    from tokrex.sae.meta import SaeMeta
    from tokrex.sae.train import Trainer

    cfg = TrainConfig(model="m", layer=0, latents=8, l0=2, tokens=1000, batch_size=10, l1_warmup=0.2)
    trainer = Trainer(cfg, random_sae(d=4, n=8), None, meta=SaeMeta(), out=None, progress=None, info={})
    ramps = []
    for step in (0, 9, 19, 50):
        trainer.step = step
        ramps.append(trainer._l1_ramp())
    assert ramps == [0.05, 0.5, 1.0, 1.0]
