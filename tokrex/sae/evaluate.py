"""Held-out evaluation: FVU and L0 of every reported prefix, streamed over batches."""

from __future__ import annotations

import torch
from torch import Tensor

from tokrex.sae.model import Sae


@torch.no_grad()
def evaluate(sae: Sae, rows: Tensor, prefixes: list[int], *, batch_size: int = 4096,
             device: torch.device | str = "cpu") -> dict:
    """Inference-mode metrics on ``rows`` (raw activations): per prefix m, the FVU of decoding with
    the first m latents and the mean number of active latents among them; plus silent latents."""
    n = len(rows)
    d = sae.d_in
    sq_err = torch.zeros(len(prefixes), dtype=torch.float64, device=device)
    active = torch.zeros(len(prefixes), dtype=torch.float64, device=device)
    fired = torch.zeros(sae.n_latents, dtype=torch.bool, device=device)
    sum_x = torch.zeros(d, dtype=torch.float64, device=device)
    sum_x2 = torch.zeros((), dtype=torch.float64, device=device)
    for i in range(0, n, batch_size):
        x = rows[i : i + batch_size].to(device, torch.float32)
        z = sae.encode(x)
        xs = x * sae.arch.input_scale
        recon, prev = sae.b_dec.expand_as(xs), 0
        for j, m in enumerate(prefixes):
            recon = recon + z[:, prev:m] @ sae.W_dec[prev:m]
            sq_err[j] += (recon - xs).double().pow(2).sum()
            active[j] += (z[:, :m] > 0).sum()
            prev = m
        fired |= (z > 0).any(0)
        sum_x += xs.double().sum(0)
        sum_x2 += xs.double().pow(2).sum()
    total = (sum_x2 - sum_x.pow(2).sum() / max(n, 1)).clamp_min(1e-12)
    levels = [{"prefix": m, "fvu": float(sq_err[j] / total), "l0": float(active[j] / max(n, 1))}
              for j, m in enumerate(prefixes)]
    return {"n_tokens": n, "fvu": levels[-1]["fvu"], "l0": levels[-1]["l0"], "prefixes": levels,
            "silent_latents": int((~fired).sum())}
