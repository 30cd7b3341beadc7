"""What to extract from a model: which model, which layer and hook, how the corpus is windowed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Hook = Literal["resid_post", "mlp_out", "attn_out"]
CacheDtype = Literal["float16", "bfloat16"]

HOOKS: tuple[str, ...] = ("resid_post", "mlp_out", "attn_out")


@dataclass
class ActivationConfig:
    """Activations of one model layer over a corpus store, window by window."""

    model: str
    """A Hugging Face model directory, or a model name already in the local HF cache (never downloaded)."""
    layer: int
    """0-based block index; ``resid_post`` of block N is ``hidden_states[N + 1]`` of a transformers forward
    (-1 means the embeddings, ``hidden_states[0]``)."""
    hook: Hook = "resid_post"
    """Which activation of the block: resid_post (residual stream after it), mlp_out or attn_out."""
    ctx: int = 128
    """Corpus tokens per window; each document is cut into consecutive windows of this many tokens."""
    device: str | None = None
    """torch device for the model; None picks CUDA when available, else CPU."""
    dtype: CacheDtype = "float16"
    """Storage dtype of the on-disk cache (activations are rounded to it, cached or not)."""
    batch_size: int = 32
    """Windows per forward pass (a starting value: halved on CUDA out-of-memory)."""
    shard_tokens: int | None = None
    """Rows per cache shard; None sizes shards to about 64 MiB (the unit of work an interruption can lose)."""

    def __post_init__(self) -> None:
        if self.layer < -1:
            raise ValueError(f"layer must be >= 0 (or -1 for the embeddings), got {self.layer}")
        if self.layer == -1 and self.hook != "resid_post":
            raise ValueError("layer -1 (the embeddings) has only the resid_post hook")
        if self.hook not in HOOKS:
            raise ValueError(f"hook must be one of {', '.join(HOOKS)}, got {self.hook!r}")
        if self.ctx < 1:
            raise ValueError(f"ctx must be >= 1, got {self.ctx}")
        if self.dtype not in ("float16", "bfloat16"):
            raise ValueError(f"dtype must be float16 or bfloat16, got {self.dtype!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.shard_tokens is not None and self.shard_tokens < 1:
            raise ValueError(f"shard_tokens must be >= 1, got {self.shard_tokens}")

    def torch_dtype(self):
        """The cache dtype as a torch dtype."""
        import torch

        return torch.float16 if self.dtype == "float16" else torch.bfloat16
