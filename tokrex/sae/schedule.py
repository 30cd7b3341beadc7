"""Learning-rate schedule (warmup, stable, decay) and the adaptive L1 coefficient."""

from __future__ import annotations

import torch


def wsd_lr(step: int, steps: int, peak: float, warmup: float, decay: float) -> float:
    """Warmup-stable-decay: linear warmup over ``warmup * steps``, flat, then linear decay to 0
    over the last ``decay * steps`` (``step`` counts from 0)."""
    n_warm = int(warmup * steps)
    n_decay = int(decay * steps)
    if n_warm and step < n_warm:
        return peak * (step + 1) / n_warm
    if n_decay and step >= steps - n_decay:
        return peak * max(0.0, (steps - step) / n_decay)
    return peak


def update_l1(coef: torch.Tensor, l0: torch.Tensor, target: float, rate: float = 0.01) -> torch.Tensor:
    """Multiplicative controller for the L1 coefficient, on-device (no host sync).

    ``coef * exp(rate * clamp(log(l0 / target), -1, 1))``: it rises while L0 is above the target
    and falls below it, a smooth ramp in log space that reaches the target in a few hundred steps.
    """
    ratio = torch.log(l0.clamp_min(1e-3) / target).clamp(-1.0, 1.0)
    return coef * torch.exp(rate * ratio)
