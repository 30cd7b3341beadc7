"""Scoring SAEs against the toy model's ground truth, on hand-built SAEs, checked against numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tokrex.sae import Sae, SaeArch
from tokrex.toy import default_tree
from tokrex.toy.run import make_directions, score

from train_fixtures import one_thread  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")

D = 32
KEYS = ["feature", "parent", "latent", "decoder_cos", "encoder_cos", "absorption", "absorption_with_child"]


@pytest.fixture(scope="module")
def toy():
    """The default tree, orthonormal directions, and 20k samples from it."""
    tree = default_tree()
    directions = make_directions(tree.n_features, D, torch.Generator().manual_seed(1))
    mags = tree.sample(20_000, torch.Generator().manual_seed(2))
    return tree, directions, mags, mags @ directions


def _sae(decoder: torch.Tensor, encoder: torch.Tensor, b_enc: torch.Tensor | None = None) -> Sae:
    """A ReLU SAE with decoder rows ``decoder`` and encoder columns ``encoder.T`` (no decoder bias)."""
    sae = Sae(SaeArch(d_in=decoder.shape[1], n_latents=decoder.shape[0], activation="relu"))
    with torch.no_grad():
        sae.W_dec.copy_(decoder)
        sae.W_enc.copy_(encoder.T)
        if b_enc is not None:
            sae.b_enc.copy_(b_enc)
    return sae


def reference(tree, directions, mags, x, sae, latent_of):
    """Brute force in numpy: every feature's row of the report, for a given matching."""
    dirs, w_dec, w_enc = directions.numpy(), sae.W_dec.detach().numpy(), sae.W_enc.detach().numpy()
    unit = lambda m: m / np.linalg.norm(m, axis=1, keepdims=True)  # noqa: E731
    z = np.maximum(x.numpy() @ w_enc + sae.b_enc.detach().numpy(), 0)
    active = mags.numpy() > 0
    rows = []
    for f in range(tree.n_features):
        lat = latent_of[f]
        on = active[:, f]
        silent_on = [i for i in range(len(z)) if on[i] and z[i, lat] == 0]
        kids = tree.feature_children(f)
        with_kid = on & active[:, kids].any(axis=1) if kids else None
        rows.append({
            "feature": f, "parent": tree.feature_parent(f), "latent": lat,
            "decoder_cos": float(unit(w_dec)[lat] @ unit(dirs)[f]),
            "encoder_cos": float(unit(w_enc.T)[lat] @ unit(dirs)[f]),
            "absorption": len(silent_on) / on.sum(),
            "absorption_with_child": None if not kids else sum(with_kid[i] for i in silent_on) / with_kid.sum(),
        })
    return rows


def _same(rows, expected):
    assert [list(r) for r in rows] == [KEYS] * len(rows)
    for got, want in zip(rows, expected):
        for key in KEYS:
            if isinstance(want[key], float):
                assert got[key] == pytest.approx(want[key], abs=1e-5), (got, want)
            else:
                assert got[key] == want[key], (key, got, want)


def test_make_directions_orthonormal_when_they_fit():
    d = make_directions(20, 32, torch.Generator().manual_seed(0))
    assert d.shape == (20, 32)
    assert torch.allclose(d @ d.T, torch.eye(20), atol=1e-5)
    again = make_directions(20, 32, torch.Generator().manual_seed(0))
    assert torch.equal(d, again)
    many = make_directions(40, 8, torch.Generator().manual_seed(0))  # more features than dimensions
    assert many.shape == (40, 8) and torch.allclose(many.norm(dim=1), torch.ones(40), atol=1e-5)


def test_permuted_ground_truth_is_a_perfect_match(toy):
    tree, directions, mags, x = toy
    perm = torch.randperm(tree.n_features, generator=torch.Generator().manual_seed(5))
    decoder = torch.empty_like(directions)
    decoder[perm] = directions  # latent perm[f] is feature f
    # a tiny negative bias: inactive features give exactly 0, not rounding noise of either sign
    sae = _sae(decoder, decoder, torch.full((tree.n_features,), -1e-4))
    result = score("perfect", sae, tree, directions, mags, x, {"steps": 0})
    assert [r["latent"] for r in result.features] == perm.tolist()
    assert result.order == perm.tolist()
    for r in result.features:
        assert r["decoder_cos"] == pytest.approx(1.0, abs=1e-5) and r["encoder_cos"] == pytest.approx(1.0, abs=1e-5)
        assert r["absorption"] == 0.0
    assert [r["absorption_with_child"] for r in result.features if tree.feature_children(r["feature"])] == [0.0] * 3
    assert all(r["absorption_with_child"] is None for r in result.features if not tree.feature_children(r["feature"]))
    assert result.fvu == pytest.approx(0.0, abs=1e-6)  # (1e-4)^2 per active feature
    assert result.l0 == pytest.approx(float((mags > 0).sum(1).float().mean()))
    assert result.decoder_cos.shape == (tree.n_features, tree.n_features) and result.train == {"steps": 0}
    _same(result.features, reference(tree, directions, mags, x, result.sae, perm.tolist()))


def test_parent_absorbed_by_its_children(toy):
    """Parent A's encoder is A minus its children, with a negative bias: silent whenever a child is on."""
    tree, directions, mags, x = toy
    a, kids = 0, tree.feature_children(0)
    encoder = directions.clone()
    encoder[a] = directions[a] - directions[kids].sum(0)
    bias = torch.zeros(tree.n_features)
    bias[a] = -0.5
    sae = _sae(directions, encoder, bias)
    result = score("absorbing", sae, tree, directions, mags, x, {})
    row = result.features[a]
    assert row["latent"] == a and row["absorption_with_child"] == 1.0
    active = (mags > 0).numpy()
    child_share = (active[:, a] & active[:, kids].any(1)).sum() / active[:, a].sum()
    assert row["absorption"] == pytest.approx(child_share)
    assert 0.5 < row["absorption"] < 0.7  # the default tree: 60% of active parents have a read-out child
    assert row["encoder_cos"] == pytest.approx(0.5, abs=1e-5)  # (a - k1 - k2 - k3) . a / 2
    for f in range(tree.n_features):
        if f != a:
            assert result.features[f]["absorption"] == 0.0
    _same(result.features, reference(tree, directions, mags, x, sae, list(range(tree.n_features))))


def test_extra_latents_are_listed_after_the_matched_ones(toy):
    tree, directions, mags, x = toy
    n = tree.n_features
    extra = torch.zeros(2, D)
    extra[:, 0] = 1.0  # two spare latents, silent on nothing in particular
    decoder = torch.cat([extra, directions])  # feature f is latent f + 2
    result = score("wide", _sae(decoder, decoder, torch.full((n + 2,), -1e-4)), tree, directions, mags, x, {})
    assert [r["latent"] for r in result.features] == list(range(2, n + 2))
    assert result.order == [*range(2, n + 2), 0, 1]
    assert result.decoder_cos.shape == (n + 2, n)
    _same(result.features, reference(tree, directions, mags, x, result.sae, list(range(2, n + 2))))
