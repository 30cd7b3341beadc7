"""Absorption holes and greedy covers: where a latent misses the pattern, and which latents fill in.

Both are built on two reads, passed in as functions so the algorithms stay pure:
``column(latent)``, the sorted token indices where a latent fires (latent-major index), and
``counts_on(tokens)``, how many of the given tokens each latent fires on (token-major index,
read only for those tokens). Firing means "above the threshold" in both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

Column = Callable[[int], np.ndarray]
CountsOn = Callable[[np.ndarray], np.ndarray]


@dataclass
class Hole:
    """The positives one latent misses, and the latents that fire there."""

    latent: int
    """The latent whose hole this is."""
    size: int
    """Positives it misses (its fn)."""
    absorbers: list[tuple[int, int]]
    """(latent, positives of the hole it fires on), most first, ties by latent id."""


def _mask(n_tokens: int, tokens: np.ndarray) -> np.ndarray:
    out = np.zeros(n_tokens, dtype=bool)
    out[tokens] = True
    return out


def _top(counts: np.ndarray, top: int) -> list[tuple[int, int]]:
    nz = np.flatnonzero(counts)
    order = nz[np.lexsort((nz, -counts[nz]))][:top]
    return [(int(a), int(counts[a])) for a in order]


def holes(
    latents: list[int],
    positives: np.ndarray,
    n_tokens: int,
    column: Column,
    counts_on: CountsOn,
    top: int,
    eligible: np.ndarray | None = None,
) -> list[Hole]:
    """For each of ``latents``, the ``top`` other latents firing on most of the positives it misses.

    ``eligible`` (bool per latent) restricts which latents may be listed as absorbers.
    """
    out = []
    for lat in latents:
        hole = positives[~_mask(n_tokens, column(lat))[positives]]
        counts = np.array(counts_on(hole), dtype=np.int64)
        counts[lat] = 0
        if eligible is not None:
            counts[~np.asarray(eligible, dtype=bool)] = 0
        out.append(Hole(int(lat), len(hole), _top(counts, top)))
    return out


@dataclass
class CoverStep:
    """The union after adding one more latent."""

    step: int
    """1-based step number."""
    latent: int
    """The latent added at this step."""
    tp: int
    """Positives where some latent of the union fires."""
    fp: int
    """Other tokens where some latent of the union fires."""
    fn: int
    """Positives where no latent of the union fires."""

    def scores(self, n_pos: int) -> tuple[float, float, float]:
        """(precision, recall, f1) of the union."""
        fires = self.tp + self.fp
        precision = self.tp / fires if fires else 0.0
        recall = self.tp / n_pos if n_pos else 0.0
        f1 = 2 * self.tp / (fires + n_pos) if fires + n_pos else 0.0
        return precision, recall, f1


def cover(
    tp: np.ndarray,
    n_fires: np.ndarray,
    positives: np.ndarray,
    n_tokens: int,
    column: Column,
    counts_on: CountsOn,
    k: int,
    eligible: np.ndarray | None = None,
) -> list[CoverStep]:
    """Greedy set of up to ``k`` latents whose union of firings best matches the positives (F1).

    Each step adds the latent that gives the union the highest F1 (ties: lowest latent id) and
    stops early when no latent improves it. Exact and vectorized over all latents: for every
    latent the union's gain is its firings (``n_fires``, ``tp`` on positives) minus those already
    inside the union, and the latter are updated from the token-major rows of the tokens each
    step newly covers, so a step costs a read of those tokens only.
    """
    n_pos = len(positives)
    tp = np.asarray(tp, dtype=np.int64)
    n_fires = np.asarray(n_fires, dtype=np.int64)
    allowed = np.ones(len(tp), dtype=bool) if eligible is None else np.array(eligible, dtype=bool)
    is_pos = _mask(n_tokens, positives)
    covered = np.zeros(n_tokens, dtype=bool)
    inside = np.zeros(len(tp), dtype=np.int64)  # each latent's firings already inside the union
    inside_pos = np.zeros(len(tp), dtype=np.int64)  # ... of which on positives
    tp_u = fires_u = 0
    steps: list[CoverStep] = []
    for step in range(1, k + 1):
        gain_tp = tp - inside_pos
        gain_fires = n_fires - inside
        f1 = 2.0 * (tp_u + gain_tp) / np.maximum(fires_u + gain_fires + n_pos, 1)
        f1[~allowed] = -1.0
        best = int(np.argmax(f1))  # first maximum: the lowest id among ties
        current = 2.0 * tp_u / (fires_u + n_pos) if fires_u + n_pos else 0.0
        if f1[best] <= current:
            break
        tokens = np.asarray(column(best), dtype=np.int64)
        new = tokens[~covered[tokens]]
        covered[new] = True
        new_pos = new[is_pos[new]]
        inside += counts_on(new)
        inside_pos += counts_on(new_pos)
        tp_u += len(new_pos)
        fires_u += len(new)
        allowed[best] = False
        steps.append(CoverStep(step, best, tp_u, fires_u - tp_u, n_pos - tp_u))
    return steps
