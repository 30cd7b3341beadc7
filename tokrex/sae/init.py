"""Initialization and the in-place surgery training needs: decoder norms, latent permutation."""

from __future__ import annotations

import torch
from torch import Tensor

from tokrex.sae.model import Sae, SaeArch


@torch.no_grad()
def init_sae(arch: SaeArch, sample: Tensor, gen: torch.Generator, *, device: torch.device | str = "cpu") -> Sae:
    """A fresh SAE: random unit decoder rows (norm 0.1 for relu+L1), encoder = decoder transposed,
    ``b_dec`` = mean of the normalized ``sample``, ``b_enc`` = 0."""
    sae = Sae(arch)
    w = torch.randn(arch.n_latents, arch.d_in, generator=gen, dtype=torch.float32)
    w /= w.norm(dim=1, keepdim=True).clamp_min(1e-8)
    if arch.activation == "relu":
        w *= 0.1
    sae.W_dec.copy_(w)
    sae.W_enc.copy_(w.T)
    sae.b_dec.copy_(sample.float().mean(0))
    return sae.to(device)


@torch.no_grad()
def normalize_decoder(sae: Sae) -> None:
    """Unit-norm decoder rows (TopK/BatchTopK)."""
    sae.W_dec /= sae.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-8)


@torch.no_grad()
def project_decoder_grad(sae: Sae) -> None:
    """Remove the gradient component parallel to each (unit) decoder row, so steps keep the norm."""
    g = sae.W_dec.grad
    if g is None:
        return
    w = sae.W_dec
    g -= (g * w).sum(dim=1, keepdim=True) * w / w.pow(2).sum(dim=1, keepdim=True).clamp_min(1e-12)


_LATENT_DIM = {"W_enc": 1, "b_enc": 0, "W_dec": 0, "threshold": 0}


@torch.no_grad()
def permute_latents(sae: Sae, perm: Tensor, optimizer: torch.optim.Optimizer | None = None,
                    trackers: list[Tensor] | None = None) -> None:
    """Reorder latents: new latent i is old latent ``perm[i]``, in the weights, biases, threshold,
    the optimizer's per-parameter state and any per-latent ``trackers`` (all in place).
    The SAE computes the same function (its latent outputs permuted)."""
    perm = perm.to(sae.W_enc.device)
    for name, dim in _LATENT_DIM.items():
        t = getattr(sae, name)
        old = t.data.index_select(dim, perm)
        t.data.copy_(old)
        if optimizer is not None and isinstance(t, torch.nn.Parameter) and t in optimizer.state:
            for key, value in optimizer.state[t].items():
                if torch.is_tensor(value) and value.shape == t.shape:
                    value.copy_(value.index_select(dim, perm))
    for tr in trackers or []:
        tr.copy_(tr.index_select(0, perm.to(tr.device)))


def usage_order(usage: Tensor) -> Tensor:
    """Permutation sorting latents by usage, most used first (stable on ties)."""
    return torch.sort(usage, descending=True, stable=True).indices

