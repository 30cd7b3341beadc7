"""Where an SAE comes from and what it reads: attached to every loaded ``Sae`` as ``sae.meta``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

SaeFormat = Literal["tokrex", "saelens", "sparsify", "dictionary_learning"]


@dataclass
class SaeMeta:
    """Provenance of an SAE: the model and layer it reads, and how it was saved."""

    format: SaeFormat = "tokrex"
    """The on-disk format it was loaded from."""
    model: str | None = None
    """Model name or path as recorded by the SAE (None when unknown)."""
    layer: int | None = None
    """0-based block index: the residual stream after block ``layer`` is ``hidden_states[layer + 1]``."""
    hook: str = "resid_post"
    """Which activation of that block: resid_post (default), mlp_out or attn_out."""
    ctx: int | None = None
    """Context length (tokens per window) used in training."""
    tokenizer_hash: str | None = None
    """Identity of the tokenizer the SAE's model uses (see tokrex.corpus.tokenizer_hash)."""
    source: str | None = None
    """Path the SAE was loaded from."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Anything else worth keeping: training summary, original config."""
