"""Training objectives: nested-prefix reconstruction losses (Matryoshka) and the sparsity terms.

Everything here works in the normalized input space (inputs multiplied by ``input_scale``).

- ``random`` prefixes (Nabeshima): each step samples prefix lengths log-uniformly between
  ``min_prefix`` and the width (so short prefixes are frequent), always including the full
  width; the reconstruction losses of the nested prefixes are **summed**.
- fixed ``groups`` (Bussmann et al.): the prefixes are the group ends; losses are **averaged**.
- ``single`` (vanilla): one prefix, the full width.

With an L1 penalty (relu) each prefix also carries its own sparsity term (``prefix_weights``).

Prefix reconstructions are built cumulatively, block by block, so all prefixes together cost
one full decode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from tokrex.sae.model import Sae, _topk


def sample_prefixes(n: int, count: int, min_prefix: int, gen: torch.Generator) -> list[int]:
    """Sorted distinct prefix lengths: ``count - 1`` log-uniform draws in [min_prefix, n], plus n."""
    lo = min(min_prefix, n)
    u = torch.rand(max(0, count - 1), generator=gen, dtype=torch.float64)
    draws = torch.exp(math.log(lo) + u * (math.log(n) - math.log(lo))).floor().long().clamp(lo, n)
    return sorted({*draws.tolist(), n})


def report_prefixes(n: int, groups: list[int] | None, mode: str, min_prefix: int = 16) -> list[int]:
    """Prefixes whose FVU/L0 are reported: the groups, or a ladder n/4, n/16, n/64 (>= min_prefix) for random."""
    if mode == "groups" and groups:
        return list(groups)
    if mode == "single":
        return [n]
    ladder = [n]
    while ladder[0] // 4 >= max(min_prefix, 1) and len(ladder) < 4:
        ladder.insert(0, ladder[0] // 4)
    return ladder


@dataclass
class StepOut:
    """What one forward pass of a training step produces."""

    loss: Tensor
    """The total loss to minimize."""
    recon_loss: Tensor
    """Combined reconstruction loss over prefixes."""
    prefix_mse: Tensor
    """[n_prefixes] mean squared error per element of each nested prefix."""
    prefixes: list[int]
    z: Tensor
    """[batch, n] latent activations."""
    pre: Tensor
    """[batch, n] pre-activations."""
    recon: Tensor
    """[batch, d] full reconstruction (normalized space)."""
    aux_loss: Tensor
    sparsity_loss: Tensor


def encode_train(sae: Sae, x: Tensor) -> tuple[Tensor, Tensor]:
    """``(pre, z)`` for normalized inputs ``x``; BatchTopK selects over the whole batch."""
    pre = torch.addmm(sae.b_enc, x - sae.b_dec, sae.W_enc)
    arch = sae.arch
    if arch.activation == "relu":
        return pre, torch.relu(pre)
    if arch.activation == "batchtopk":
        return pre, batch_topk(torch.relu(pre), arch.k)
    return pre, _topk(torch.relu(pre), arch.k, batch=False)


def batch_topk(acts: Tensor, k: int) -> Tensor:
    """The ``k * batch`` largest entries of ``acts`` [batch, n], the rest zeroed (BatchTopK).

    Two stages, exact: each row's top ``4k`` are the candidates, the batch's top ``k * batch`` are
    taken among them; if some row had every candidate selected, its next entries might belong too,
    and the plain selection over all entries runs instead. Much cheaper than one top-k over the
    flattened batch."""
    rows, n = acts.shape
    m = 4 * k
    if m >= n:
        return _topk(acts, k, batch=True)
    cand, cand_idx = acts.topk(m, dim=1, sorted=False)
    vals, pos = cand.flatten().topk(min(k * rows, cand.numel()), sorted=False)
    row = torch.div(pos, m, rounding_mode="floor")
    if bool((torch.bincount(row, minlength=rows) >= m).any()):
        return _topk(acts, k, batch=True)
    out = torch.zeros_like(acts)
    out[row, cand_idx.flatten()[pos]] = vals
    return out


def nested_mse(z: Tensor, sae: Sae, x: Tensor, prefixes: list[int]) -> tuple[Tensor, Tensor]:
    """Per-prefix MSE ``[len(prefixes)]`` (decoding with the first m latents) and the last reconstruction.

    ``split`` (not slicing) keeps the backward pass to one gradient buffer for ``z`` and ``W_dec``."""
    sizes = [b - a for a, b in zip([0, *prefixes[:-1]], prefixes)]
    rest = z.shape[1] - prefixes[-1]
    z_blocks = z.split(sizes + ([rest] if rest else []), dim=1)
    w_blocks = sae.W_dec.split(sizes + ([rest] if rest else []), dim=0)
    recon = sae.b_dec.expand_as(x)
    out = []
    for zb, wb in zip(z_blocks[: len(sizes)], w_blocks):
        recon = recon + zb @ wb
        out.append((recon - x).pow(2).mean())
    return torch.stack(out), recon


def auxk_loss(sae: Sae, pre: Tensor, x: Tensor, recon: Tensor, dead: Tensor) -> Tensor:
    """AuxK (Gao et al.): the top dead latents reconstruct the residual error; normalized by its variance."""
    n_dead = int(dead.sum())
    if n_dead == 0:
        return pre.new_zeros(())
    k_aux = min(sae.d_in // 2 or 1, n_dead)
    idx = dead.nonzero().squeeze(1)  # only the dead latents' columns take part
    z_aux = _topk(torch.relu(pre.index_select(1, idx)), k_aux, batch=False)
    err = (x - recon).detach()
    err_hat = z_aux @ sae.W_dec.index_select(0, idx)
    denom = (err - err.mean(0)).pow(2).sum().clamp_min(1e-8)
    return (err_hat - err).pow(2).sum() / denom


def step_loss(sae: Sae, x: Tensor, prefixes: list[int], mode: str, *, l1_coef: float, dead: Tensor | None,
              auxk_coef: float) -> StepOut:
    """The training loss for one batch of normalized inputs."""
    pre, z = encode_train(sae, x)
    mse, recon = nested_mse(z, sae, x, prefixes)
    recon_loss = mse.sum() if mode == "random" else mse.mean()
    sparsity = pre.new_zeros(())
    aux = pre.new_zeros(())
    if sae.arch.activation == "relu":
        weight = sae.W_dec.norm(dim=1) * prefix_weights(z.shape[1], prefixes, mode, device=z.device)
        sparsity = l1_coef * (z * weight).sum(-1).mean()
    elif dead is not None and auxk_coef > 0:
        aux = auxk_coef * auxk_loss(sae, pre, x, recon, dead)
    return StepOut(loss=recon_loss + sparsity + aux, recon_loss=recon_loss, prefix_mse=mse, prefixes=prefixes,
                   z=z, pre=pre, recon=recon, aux_loss=aux, sparsity_loss=sparsity)


def prefix_weights(n: int, prefixes: list[int], mode: str, *, device: torch.device | str = "cpu") -> Tensor:
    """``[n]`` weight of each latent's L1 penalty (relu).

    Every nested prefix is an SAE with its own loss, reconstruction plus sparsity, and the prefix
    losses are combined alike (summed for random prefixes, averaged for fixed groups), so a latent's
    penalty counts once per prefix it belongs to, like its share of the reconstruction. Penalizing
    all latents once instead makes the late (rare, specific) latents relatively dearer than the
    early ones and pushes them to be absorbed or die."""
    ends = torch.tensor(prefixes, device=device)
    # prefixes holding latent j: those whose end is > j (built on the device, no [n, prefixes] matrix)
    counts = (len(prefixes) - torch.bucketize(torch.arange(n, device=device), ends, right=True)).float()
    return counts / len(prefixes) if mode == "groups" else counts


def fvu(x: Tensor, recon: Tensor) -> float:
    """Fraction of variance unexplained on one batch."""
    return float((x - recon).pow(2).sum() / (x - x.mean(0)).pow(2).sum().clamp_min(1e-12))


@torch.no_grad()
def prefix_fvu(sae: Sae, x: Tensor, z: Tensor, prefixes: list[int]) -> dict[int, float]:
    """FVU of each nested prefix on one batch (normalized inputs, latents ``z``)."""
    total = (x - x.mean(0)).pow(2).sum().clamp_min(1e-12)
    recon = sae.b_dec.expand_as(x)
    out, prev = {}, 0
    for m in prefixes:
        recon = recon + z[:, prev:m] @ sae.W_dec[prev:m]
        out[m] = float((x - recon).pow(2).sum() / total)
        prev = m
    return out
