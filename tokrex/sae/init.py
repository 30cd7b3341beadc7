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


@torch.no_grad()
def resample_dead(sae: Sae, dead: Tensor, x: Tensor, recon: Tensor, optimizer: torch.optim.Optimizer | None,
                  gen: torch.Generator) -> int:
    """Re-initialize ``dead`` latents toward inputs the SAE reconstructs badly (Bricken et al., 2023).

    Each dead latent takes the direction of the residual ``x - recon`` of one row of the batch, drawn
    with probability proportional to its squared error: decoder row = that direction at the alive
    latents' mean decoder norm, encoder column = the direction at a fifth of their mean encoder norm,
    bias 0, Adam state cleared. Returns how many latents were re-initialized."""
    idx = dead.nonzero().squeeze(1)
    n = len(idx)
    if n == 0 or bool(dead.all()):
        return 0
    err = (x - recon).float()
    weight = err.pow(2).sum(1)
    if not bool(weight.sum() > 0):
        return 0
    rows = torch.multinomial(weight.cpu(), n, replacement=True, generator=gen).to(err.device)
    dirs = err[rows] / err[rows].norm(dim=1, keepdim=True).clamp_min(1e-12)
    alive = ~dead
    dec_norm = sae.W_dec[alive].norm(dim=1).mean()
    enc_norm = sae.W_enc[:, alive].norm(dim=0).mean()
    sae.W_dec[idx] = dirs * dec_norm
    sae.W_enc[:, idx] = dirs.T * (0.2 * enc_norm)
    sae.b_enc[idx] = 0.0
    if optimizer is not None:
        for name, dim in (("W_dec", 0), ("W_enc", 1), ("b_enc", 0)):
            for value in optimizer.state.get(getattr(sae, name), {}).values():
                if torch.is_tensor(value) and value.dim() > 0:
                    value.index_fill_(dim, idx, 0.0)
    return n


def usage_order(usage: Tensor) -> Tensor:
    """Permutation sorting latents by usage, most used first (stable on ties)."""
    return torch.sort(usage, descending=True, stable=True).indices

