"""What a search computes: one typed config shared by the Python API and ``tokrex search``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

RankBy = Literal["f1", "precision", "recall", "cosine", "auroc"]
Engine = Literal["auto", "numpy", "duckdb"]
RANK_BY: tuple[str, ...] = ("f1", "precision", "recall", "cosine", "auroc")
ENGINES: tuple[str, ...] = ("auto", "numpy", "duckdb")


@dataclass
class SearchConfig:
    """Ranking settings; every field is a ``tokrex search`` option of the same name."""

    by: RankBy = "f1"
    """Metric the latents are ranked by (descending; ties by latent id): f1, precision, recall, cosine or auroc."""
    top: int = 20
    """How many latents to return (0: all latents that pass --min-fires)."""
    min_fires: int = 1
    """Only latents that fire on at least this many corpus tokens (above the threshold) are ranked."""
    threshold: float = 0.0
    """A latent fires on a token when its activation there is above this value."""
    auroc: bool = False
    """Also compute the AUROC of each returned latent (activation as the score); implied by --by auroc."""
    holes: bool = False
    """For the first --holes-for returned latents, list the latents that fire on the positives they miss."""
    holes_for: int = 5
    """With --holes: how many of the returned latents get a list of absorbing latents."""
    holes_top: int = 5
    """With --holes: how many absorbing latents to list per latent."""
    cover: int = 0
    """Find a greedy set of up to this many latents whose union best explains the pattern (F1); 0: off."""
    top_tokens: int = 3
    """How many of each returned latent's most frequent firing tokens to list (0: none)."""
    engine: Engine = "auto"
    """How the positives are joined with the firings: numpy over the token-major index, or duckdb SQL over the Parquet firings (auto: numpy when the index exists)."""

    def __post_init__(self) -> None:
        if self.by not in RANK_BY:
            raise ValueError(f"by must be one of {', '.join(RANK_BY)}, not {self.by!r}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {self.engine!r}")
        for name in ("top", "min_fires", "holes_for", "holes_top", "cover", "top_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a whole number >= 0, not {value!r}")
        if not isinstance(self.threshold, (int, float)) or not math.isfinite(self.threshold) or self.threshold < 0:
            raise ValueError(f"threshold must be a finite number >= 0, not {self.threshold!r}")
        self.threshold = float(self.threshold)
        if self.by == "auroc":
            self.auroc = True
