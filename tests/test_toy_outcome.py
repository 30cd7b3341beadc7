"""The toy model's point, on a reduced run with a fixed seed: the vanilla SAE absorbs its parent
features into their children, the Matryoshka SAE trained by the same loop does not.

The full-size figures (docs/toy.md) come from `tokrex toy` with its defaults; the slow test below
checks them."""

from __future__ import annotations

import pytest

from tokrex.toy import ToyConfig, run_toy


def _parents(model) -> list[dict]:
    return [f for f in model.features if f["absorption_with_child"] is not None]


def test_matryoshka_absorbs_clearly_less_than_vanilla():
    result = run_toy(ToyConfig(samples=300_000, eval_samples=20_000, seed=0))
    vanilla, matryoshka = result.models["vanilla"], result.models["matryoshka"]
    v = [f["absorption"] for f in _parents(vanilla)]
    m = [f["absorption"] for f in _parents(matryoshka)]
    assert len(v) == len(m) == 3
    assert sum(v) / 3 > 0.3  # vanilla: parents silent whenever a child is active
    assert max(m) < 0.05 and sum(m) / 3 < sum(v) / 30
    assert min(f["absorption_with_child"] for f in _parents(vanilla)) > 0.5
    assert all(f["decoder_cos"] > 0.9 for f in _parents(matryoshka))
    # same width and the same sparsity target for both
    assert vanilla.sae.n_latents == matryoshka.sae.n_latents == result.tree.n_features
    assert vanilla.train["l0_target"] == matryoshka.train["l0_target"] == pytest.approx(result.tree.expected_l0())


@pytest.mark.slow
def test_default_run_recovers_every_feature():
    result = run_toy(ToyConfig())
    matryoshka = result.models["matryoshka"]
    assert min(f["decoder_cos"] for f in matryoshka.features) >= 0.95
    assert max(f["absorption"] for f in _parents(matryoshka)) <= 0.05
    assert min(f["absorption"] for f in _parents(result.models["vanilla"])) > 0.5
