"""The sparse autoencoder every tokrex stage works with, whatever format it was saved in.

    z = act(((x * input_scale) - b_dec * apply_b_dec_to_input) @ W_enc + b_enc)
    x_hat = (z @ W_dec + b_dec) / input_scale

``activation`` picks ``act``:
- ``relu``: ReLU (L1-trained SAEs, SAELens "standard", dictionary_learning AutoEncoder);
- ``topk``: ReLU then keep the k largest per row (sparsify, SAELens topk);
- ``batchtopk``: in training, the k*batch largest over the batch; at inference, ReLU
  gated by ``threshold`` (per latent, or one value repeated), so encoding needs no batch;
- ``jumprelu``: pre * (pre > threshold) with a per-latent threshold.

``groups`` are the cumulative ends of the nested Matryoshka prefixes, ending at
``n_latents`` (``[n_latents]`` for a plain SAE). The level of latent i is the index
of the first group end > i.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor, nn

Activation = Literal["relu", "topk", "batchtopk", "jumprelu"]


@dataclass
class SaeArch:
    """What the weights mean: enough to encode and decode."""

    d_in: int
    """Width of the activations the SAE reads."""
    n_latents: int
    """Number of latents (dictionary size)."""
    activation: Activation = "relu"
    """Nonlinearity: relu, topk, batchtopk or jumprelu."""
    k: int | None = None
    """Active latents per token for topk/batchtopk."""
    groups: list[int] = field(default_factory=list)
    """Cumulative ends of nested prefixes (Matryoshka levels); empty means one group."""
    input_scale: float = 1.0
    """Inputs are multiplied by this before encoding (normalization to a fixed average norm)."""
    apply_b_dec_to_input: bool = True
    """Subtract b_dec from the (scaled) input before encoding."""

    def __post_init__(self) -> None:
        if not self.groups:
            self.groups = [self.n_latents]
        if self.activation not in ("relu", "topk", "batchtopk", "jumprelu"):
            raise ValueError(f"unknown activation {self.activation!r}")
        if self.activation in ("topk", "batchtopk") and not self.k:
            raise ValueError(f"activation {self.activation!r} needs k")
        if sorted(self.groups) != list(self.groups) or self.groups[-1] != self.n_latents:
            raise ValueError(f"groups must be increasing and end at n_latents={self.n_latents}: {self.groups}")

    def level(self, latent: int) -> int:
        """Matryoshka level (0-based group index) of a latent."""
        return bisect.bisect_right(self.groups, latent)


class Sae(nn.Module):
    """A sparse autoencoder with W_enc [d_in, n], b_enc [n], W_dec [n, d_in], b_dec [d_in], threshold [n]."""

    def __init__(self, arch: SaeArch, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"):
        super().__init__()
        self.arch = arch
        d, n = arch.d_in, arch.n_latents
        kw = dict(dtype=dtype, device=device)
        self.W_enc = nn.Parameter(torch.zeros(d, n, **kw))
        self.b_enc = nn.Parameter(torch.zeros(n, **kw))
        self.W_dec = nn.Parameter(torch.zeros(n, d, **kw))
        self.b_dec = nn.Parameter(torch.zeros(d, **kw))
        self.register_buffer("threshold", torch.zeros(n, **kw))

    @property
    def d_in(self) -> int:
        return self.arch.d_in

    @property
    def n_latents(self) -> int:
        return self.arch.n_latents

    def pre_acts(self, x: Tensor) -> Tensor:
        x = x.to(self.W_enc.dtype) * self.arch.input_scale
        if self.arch.apply_b_dec_to_input:
            x = x - self.b_dec
        if x.dim() == 2:
            return torch.addmm(self.b_enc, x, self.W_enc)  # bias fused into the matmul
        return x @ self.W_enc + self.b_enc

    def activate(self, pre: Tensor, *, batch: bool = False) -> Tensor:
        """Apply the nonlinearity. ``batch=True`` uses the training-time BatchTopK over the whole batch."""
        a = self.arch.activation
        if a == "relu":
            return torch.relu(pre)
        if a == "jumprelu":
            return pre * (pre > self.threshold)
        if a == "topk" or (a == "batchtopk" and batch):
            return _topk(torch.relu(pre), self.arch.k, batch=(a == "batchtopk"))
        # batchtopk at inference: a per-latent threshold, no batch needed
        return pre * (pre > self.threshold) * (pre > 0)

    def encode(self, x: Tensor) -> Tensor:
        """Dense latent activations [..., n_latents] (>= 0; exactly zero where a latent is silent)."""
        pre = self.pre_acts(x)
        if not (torch.is_grad_enabled() and pre.requires_grad):
            fast = self._activate_inplace(pre)
            if fast is not None:
                return fast
        return self.activate(pre)

    def _activate_inplace(self, pre: Tensor) -> Tensor | None:
        """The same result as ``activate``, computed in place in ``pre`` (a temporary), when the
        nonlinearity allows it: ReLU, TopK, or a threshold shared by every latent."""
        a = self.arch.activation
        if a == "relu":
            return pre.relu_()
        if a == "topk":
            # top-k of relu(pre) == relu(top-k of pre); reuse ``pre`` as the output buffer
            vals, idx = pre.topk(min(self.arch.k, pre.shape[-1]), dim=-1, sorted=False)
            return pre.zero_().scatter_(-1, idx, vals.relu_())
        if a in ("batchtopk", "jumprelu"):
            t = self._uniform_threshold()
            if t is not None:
                # batchtopk keeps pre > max(t, 0); jumprelu keeps pre > t
                return torch.nn.functional.threshold_(pre, max(t, 0.0) if a == "batchtopk" else t, 0.0)
        return None

    def _uniform_threshold(self) -> float | None:
        """The threshold when all latents share one value (cached until the buffer changes), else None."""
        key = (self.threshold.data_ptr(), self.threshold._version)
        cached = getattr(self, "_thr_cache", None)
        if cached is None or cached[0] != key:
            t = self.threshold
            value = float(t[0]) if t.numel() and bool((t == t[0]).all()) else None
            self._thr_cache = (key, value)
        return self._thr_cache[1]

    def decode(self, z: Tensor, upto: int | None = None) -> Tensor:
        """Reconstruction in the input's units; ``upto`` decodes with the first ``upto`` latents only."""
        if upto is None:
            out = z @ self.W_dec + self.b_dec
        else:
            out = z[..., :upto] @ self.W_dec[:upto] + self.b_dec
        return out / self.arch.input_scale

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))

    def level(self, latent: int) -> int:
        return self.arch.level(latent)


def _topk(acts: Tensor, k: int, *, batch: bool) -> Tensor:
    if batch:
        flat = acts.flatten()
        kk = min(k * acts.shape[0], flat.numel())
        vals, idx = flat.topk(kk, sorted=False)
        out = torch.zeros_like(flat).scatter_(0, idx, vals)
        return out.view_as(acts)
    vals, idx = acts.topk(min(k, acts.shape[-1]), dim=-1, sorted=False)
    return torch.zeros_like(acts).scatter_(-1, idx, vals)
