"""Everything `tokrex toy` can be told, as one typed dataclass (no torch import: the CLI reads its defaults)."""

from __future__ import annotations

from dataclasses import dataclass

from tokrex.errors import UsageError


@dataclass
class ToyConfig:
    """One run of the toy experiment."""

    tree: str | None = None
    """JSON tree file; None uses the default tree shipped with tokrex."""
    seed: int = 0
    """Seed for the directions, the samples and both SAEs."""
    d_model: int = 32
    """Dimension of the activation space the features live in."""
    samples: int = 2_000_000
    """Training samples per SAE."""
    batch_size: int = 512
    """Samples per optimizer step."""
    lr: float = 0.01
    """Peak learning rate (warmup 5%, decay over the last 20%)."""
    l0: float | None = None
    """Target L0 of both SAEs; None uses the tree's expected number of active features."""
    n_prefixes: int = 3
    """Random Matryoshka prefixes per step (the full width always included)."""
    resort_every: int = 1
    """Steps between re-sorting Matryoshka latents by usage (their recent squared contribution)."""
    l1_warmup: float = 0.2
    """Fraction of steps over which the L1 coefficient ramps up before its controller starts."""
    l1_rate: float = 3e-4
    """Largest per-step relative change of the L1 coefficient once its controller runs."""
    eval_samples: int = 100_000
    """Fresh samples the matching and the scores are computed on."""
    device: str = "cpu"
    """torch device; the toy SAEs are tiny, so the CPU is usually the fastest."""

    def __post_init__(self) -> None:
        for name in ("d_model", "samples", "batch_size", "n_prefixes", "eval_samples"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}.")
        if self.samples < self.batch_size:
            raise UsageError(f"--samples ({self.samples}) must be at least one batch (--batch-size {self.batch_size}).")
        if not self.lr > 0:
            raise UsageError(f"--lr must be positive, got {self.lr}.")
        if self.resort_every < 0:
            raise UsageError("--resort-every must not be negative.")
        if self.l0 is not None and not self.l0 > 0:
            raise UsageError(f"--l0 must be positive, got {self.l0}.")
        if not 0 <= self.l1_warmup < 1:
            raise UsageError(f"--l1-warmup is a fraction of the run in [0, 1), got {self.l1_warmup}.")
        if not 0 < self.l1_rate < 1:
            raise UsageError(f"--l1-rate must be between 0 and 1, got {self.l1_rate}.")
