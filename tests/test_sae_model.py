"""The inference fast paths of Sae.encode give exactly what the plain nonlinearity gives."""

from __future__ import annotations

import pytest
import torch

from tokrex.sae.model import Sae, SaeArch


@pytest.mark.parametrize("activation,k", [("relu", None), ("topk", 5), ("batchtopk", 5), ("jumprelu", None)])
@pytest.mark.parametrize("shift", [0.0, -3.0])
def test_encode_fast_path_equals_activate(activation, k, shift):
    torch.manual_seed(0)
    sae = Sae(SaeArch(d_in=12, n_latents=40, activation=activation, k=k))
    torch.nn.init.normal_(sae.W_enc)
    torch.nn.init.normal_(sae.b_enc)
    sae.b_enc.data += shift  # with -3 most pre-activations are negative: fewer than k positives per row
    sae.threshold.fill_(0.25)
    x = torch.randn(64, 12)
    with torch.no_grad():
        fast = sae.encode(x)
        plain = sae.activate(sae.pre_acts(x))
    assert torch.equal(fast, plain)
    assert (fast >= 0).all()
    if activation == "topk":
        assert int((fast > 0).sum(dim=1).max()) <= k
