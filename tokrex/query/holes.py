"""Absorption holes and greedy covers: where a latent misses the pattern, and which latents fill in.

Both work on the positives' token-major rows (``PositiveRows``) and, for the cover's false
alarms, on the latent-major columns of the few latents the greedy search needs to look at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from tokrex.query.metrics import row_index, row_owner


@dataclass
class PositiveRows:
    """The firings of the positive tokens: one entry per (positive, latent) with activation > 0."""

    owner: np.ndarray
    """Index into the positives array of each row's token."""
    latent: np.ndarray
    """Latent id of each row."""
    act: np.ndarray
    """Activation of each row."""
    n_pos: int
    """Number of positives."""

    @classmethod
    def gather(cls, offsets: np.ndarray, latent: np.ndarray, act: np.ndarray, positives: np.ndarray) -> PositiveRows:
        """Read the positives' rows from a token-major CSR index."""
        rows = row_index(offsets, positives)
        owner = row_owner(offsets, positives)
        return cls(
            owner=owner.astype(np.int32) if len(positives) < 2**31 else owner,
            latent=np.asarray(latent[rows]),
            act=np.asarray(act[rows], dtype=np.float32),
            n_pos=len(positives),
        )

    def firing(self, threshold: float) -> PositiveRows:
        """Only the rows whose activation is above ``threshold``."""
        keep = self.act > np.float64(threshold)
        return PositiveRows(self.owner[keep], self.latent[keep], self.act[keep], self.n_pos)

    def covered_by(self, latent: int) -> np.ndarray:
        """Boolean mask over positives: where ``latent`` has a row."""
        mask = np.zeros(self.n_pos, dtype=bool)
        mask[self.owner[self.latent == latent]] = True
        return mask


@dataclass
class Hole:
    """The positives one latent misses, and the latents that fire there."""

    latent: int
    """The latent whose hole this is."""
    size: int
    """Positives it misses (its fn)."""
    absorbers: list[tuple[int, int]]
    """(latent, positives of the hole it fires on), most first, ties by latent id."""


def holes(rows: PositiveRows, latents: list[int], top: int, eligible: np.ndarray | None = None) -> list[Hole]:
    """For each latent in ``latents``, the ``top`` latents that fire on most of the positives it misses.

    ``rows`` must already be restricted to firing rows (``rows.firing(threshold)``); ``eligible``
    (bool per latent) restricts which latents may be listed as absorbers.
    """
    out = []
    for lat in latents:
        covered = rows.covered_by(lat)
        size = int(rows.n_pos - covered.sum())
        in_hole = ~covered[rows.owner]
        counts = np.bincount(rows.latent[in_hole], minlength=lat + 1)
        counts[lat] = 0
        if eligible is not None:
            n = min(len(counts), len(eligible))
            counts[:n][~np.asarray(eligible[:n], dtype=bool)] = 0
        nz = np.flatnonzero(counts)
        order = nz[np.lexsort((nz, -counts[nz]))][:top]
        out.append(Hole(lat, size, [(int(a), int(counts[a])) for a in order]))
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


def _f1(tp, fires, n_pos):
    return 2.0 * tp / (fires + n_pos) if fires + n_pos else 0.0


def cover(
    rows: PositiveRows,
    positives: np.ndarray,
    n_tokens: int,
    column: Callable[[int], np.ndarray],
    k: int,
    eligible: np.ndarray | None = None,
) -> list[CoverStep]:
    """Greedy set of up to ``k`` latents whose union of firings best matches the positives (F1).

    Each step adds the latent that gives the union the highest F1 (ties: lowest latent id) and
    stops early when no latent improves it. ``rows`` hold the positives' firing rows (already
    thresholded); ``column(latent)`` returns the sorted global token indices where that latent
    fires (above the threshold), read only for latents that can still win a step: a latent's
    gain in true positives bounds the F1 it can reach, so candidates are checked best bound first.
    """
    n_pos = rows.n_pos
    is_pos = np.zeros(n_tokens, dtype=bool)
    is_pos[positives] = True
    covered = np.zeros(n_tokens, dtype=bool)
    pos_covered = np.zeros(n_pos, dtype=bool)
    n_lat = int(rows.latent.max()) + 1 if len(rows.latent) else 0
    allowed = np.ones(n_lat, dtype=bool)
    if eligible is not None:
        allowed &= np.asarray(eligible[:n_lat], dtype=bool)
    tp_u = fires_u = 0
    steps: list[CoverStep] = []
    for step in range(1, k + 1):
        gain_tp = np.bincount(rows.latent[~pos_covered[rows.owner]], minlength=n_lat)
        gain_tp[~allowed] = 0
        cand = np.flatnonzero(gain_tp)
        if len(cand) == 0:
            break
        # Upper bound of each candidate's F1: its new positives with no new false alarm.
        bound = (2.0 * (tp_u + gain_tp[cand])) / (fires_u + gain_tp[cand] + n_pos)
        order = cand[np.lexsort((cand, -bound))]
        bound_sorted = np.sort(bound)[::-1]
        best_f1, best, best_gain = _f1(tp_u, fires_u, n_pos), -1, (0, 0)
        for i, lat in enumerate(order):
            if bound_sorted[i] < best_f1 or (best >= 0 and bound_sorted[i] == best_f1 and lat > best):
                break
            tokens = column(int(lat))
            new = tokens[~covered[tokens]]
            dtp = int(is_pos[new].sum())
            f1 = _f1(tp_u + dtp, fires_u + len(new), n_pos)
            if f1 > best_f1 or (f1 == best_f1 and best >= 0 and lat < best):
                best_f1, best, best_gain = f1, int(lat), (dtp, len(new))
        if best < 0:
            break
        tokens = column(best)
        covered[tokens] = True
        pos_covered |= rows.covered_by(best)
        tp_u += best_gain[0]
        fires_u += best_gain[1]
        allowed[best] = False
        steps.append(CoverStep(step, best, tp_u, fires_u - tp_u, n_pos - tp_u))
    return steps
