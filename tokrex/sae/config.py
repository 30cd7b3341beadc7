"""Everything `tokrex train` can be told, as one typed dataclass (the CLI builds it)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

Objective = Literal["matryoshka", "vanilla"]
Arch = Literal["relu", "topk", "batchtopk"]
DataMode = Literal["auto", "cache", "stream"]


def parse_count(text: str | int) -> int:
    """``5M``, ``200k``, ``1.5G``, ``4096`` or ``1e6`` as an int."""
    if isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kKmMgGbB]?)\s*", str(text).replace("_", ""))
    if not m:
        raise ValueError(f"{text!r} is not a count; use a number with an optional k, M or G suffix (e.g. 5M).")
    mult = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "b": 1e9}[m.group(2).lower()]
    return int(round(float(m.group(1)) * mult))


@dataclass
class TrainConfig:
    """How to train one SAE on one model layer over a corpus store."""

    model: str
    """A Hugging Face model directory, or a model name in the local HF cache."""
    layer: int
    """0-based block whose activations the SAE reads (residual stream after it: hidden_states[layer + 1])."""
    latents: int | None = None
    """Number of latents (dictionary width); None means the last ``groups`` end, else 4096."""
    hook: Literal["resid_post", "mlp_out", "attn_out"] = "resid_post"
    """Which activation of the block: resid_post, mlp_out or attn_out."""
    ctx: int = 128
    """Corpus tokens per window when running the model."""
    objective: Objective = "matryoshka"
    """matryoshka (nested prefixes; random prefixes unless groups are given) or vanilla (one prefix)."""
    groups: list[int] | None = None
    """Fixed Matryoshka group ends, e.g. [128, 512, 2048, 8192]; the last group is extended to ``latents``."""
    arch: Arch | None = None
    """relu (L1 penalty), topk or batchtopk; None picks relu when ``l0`` is given, else batchtopk."""
    k: int | None = None
    """Active latents per token for topk/batchtopk (default 32)."""
    l0: float | None = None
    """Target L0 for relu: the L1 coefficient adapts until the mean number of active latents reaches it."""
    tokens: int = 5_000_000
    """Training activations to consume (epochs repeat when the corpus is smaller)."""
    batch_size: int = 4096
    """Activations per optimizer step."""
    lr: float | None = None
    """Peak learning rate; None scales it with width: 2e-4 / sqrt(latents / 16384), four times that for
    relu (L1-trained SAEs must move their biases far to gate latents off)."""
    seed: int = 0
    """Seed for initialization, data order and prefix sampling (training is deterministic on CPU)."""
    device: str | None = None
    """torch device; None picks CUDA when available, else CPU."""
    data: DataMode = "auto"
    """cache (build the activation cache, then train from it), stream (model -> shuffle buffer) or auto."""
    cache_dtype: Literal["float16", "bfloat16"] = "float16"
    """Storage dtype of the activation cache."""
    n_prefixes: int = 8
    """Random Matryoshka prefixes sampled per step (the full width always included)."""
    min_prefix: int = 16
    """Smallest random prefix length."""
    resort_every: int = 1000
    """Steps between re-sorting latents by usage, the moving average of each latent's squared contribution
    (random-prefix Matryoshka); 0 disables."""
    warmup: float = 0.05
    """Fraction of steps of linear learning-rate warmup."""
    decay: float = 0.2
    """Fraction of final steps of linear learning-rate decay to zero."""
    grad_clip: float = 1.0
    """Gradient norm clipping threshold (0 disables)."""
    dead_tokens: int = 10_000_000
    """A latent silent for this many training tokens counts as dead (capped at a fifth of the run)."""
    auxk_coef: float = 1 / 32
    """Weight of the AuxK loss that revives dead latents (topk/batchtopk)."""
    l1_warmup: float = 0.05
    """Fraction of steps over which the L1 coefficient ramps up from zero (relu); its controller starts after."""
    l1_rate: float = 0.01
    """Largest per-step relative change of the L1 coefficient made by its controller (relu)."""
    resample: bool = True
    """Re-initialize dead latents (relu) toward badly reconstructed inputs, once per dead window, before the decay."""
    holdout: int = 65_536
    """Activations held out (the end of the used corpus range) for the final evaluation."""
    buffer: int | None = None
    """Rows in the shuffle buffer; None uses about 512 MiB."""
    model_batch: int = 32
    """Windows per model forward pass when computing activations."""
    log_every: int = 50
    """Steps between metric lines (progress and metrics.jsonl)."""
    save_every: int = 2000
    """Steps between resumable checkpoints (0: only at the end and on Ctrl-C)."""

    def __post_init__(self) -> None:
        for name, choices in (("objective", ("matryoshka", "vanilla")), ("arch", (None, "relu", "topk", "batchtopk")),
                              ("hook", ("resid_post", "mlp_out", "attn_out")), ("data", ("auto", "cache", "stream")),
                              ("cache_dtype", ("float16", "bfloat16"))):
            if getattr(self, name) not in choices:
                raise ValueError(f"--{name.replace('_', '-')} must be one of {', '.join(c for c in choices if c)}, got {getattr(self, name)!r}.")
        if self.layer < -1:
            raise ValueError(f"--layer must be >= 0, got {self.layer}.")
        if self.latents is None:
            self.latents = int(self.groups[-1]) if self.groups else 4096
        if self.latents < 1:
            raise ValueError(f"--latents must be positive, got {self.latents}.")
        if self.k is not None and self.l0 is not None:
            raise ValueError("--k and --l0 are alternatives: --k N for topk/batchtopk, --l0 TARGET for relu; give one.")
        if self.arch is None:
            self.arch = "relu" if self.l0 is not None else "batchtopk"
        if self.arch == "relu" and (self.k is not None or self.l0 is None):
            raise ValueError("relu SAEs are trained to a target sparsity: give --l0 TARGET (--k is for topk/batchtopk).")
        if self.arch in ("topk", "batchtopk"):
            if self.l0 is not None:
                raise ValueError(f"--l0 applies to relu; {self.arch} uses --k.")
            self.k = 32 if self.k is None else self.k
            if not 1 <= self.k <= self.latents:
                raise ValueError(f"--k must be between 1 and --latents ({self.latents}), got {self.k}.")
        if self.l0 is not None and not 0 < self.l0 < self.latents:
            raise ValueError(f"--l0 must be between 0 and --latents ({self.latents}), got {self.l0}.")
        if self.groups is not None:
            if self.objective != "matryoshka":
                raise ValueError("--groups needs --objective matryoshka (vanilla trains one prefix).")
            g = [int(x) for x in self.groups]
            if not g or g != sorted(set(g)) or g[0] < 1 or g[-1] > self.latents:
                raise ValueError(f"--groups must be increasing group ends within 1..{self.latents}, got {self.groups}.")
            self.groups = g if g[-1] == self.latents else [*g, self.latents]
        for name in ("tokens", "batch_size", "n_prefixes", "min_prefix", "model_batch", "log_every", "ctx", "holdout"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}.")
        if not 0 < self.l1_rate < 1:
            raise ValueError(f"--l1-rate must be between 0 and 1, got {self.l1_rate}.")
        if not 0 <= self.l1_warmup < 1:
            raise ValueError(f"--l1-warmup is a fraction of the run in [0, 1), got {self.l1_warmup}.")
        if not (0 <= self.warmup < 1 and 0 <= self.decay < 1 and self.warmup + self.decay <= 1):
            raise ValueError("--warmup and --decay are fractions of the run whose sum is at most 1.")
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"--lr must be a positive number, got {self.lr}.")
        for name in ("resort_every", "save_every", "grad_clip", "auxk_coef", "dead_tokens"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must not be negative.")
        if self.buffer is not None and self.buffer < self.batch_size:
            raise ValueError(f"--buffer must hold at least one batch ({self.batch_size} rows).")

    @property
    def steps(self) -> int:
        return max(1, self.tokens // self.batch_size)

    @property
    def peak_lr(self) -> float:
        if self.lr is not None:
            return self.lr
        base = 2e-4 / math.sqrt(self.latents / 16384)
        return base if self.arch != "relu" else 4 * base

    @property
    def prefix_mode(self) -> Literal["random", "groups", "single"]:
        if self.objective == "vanilla":
            return "single"
        return "groups" if self.groups else "random"
