"""Pair search for the induction family ``X (?<a>P) G \\k<a> Z`` (see backref.py).

A capture at position p (P consumes tokens p..p+k-1) and a reference at boundary q pair up
when the k core texts at p and at q are equal (same k-gram id), and the gap G = T{lo,hi}
spans [p+k, q): every token in it satisfies T and lo <= q - p - k <= hi.  Two exact,
vectorized searches:

* ``grouped``: T is every token and hi is unbounded (``.*``, ``.+``): positions are sorted
  once per corpus by (k-gram, position) -- a stable radix sort, cached -- and each
  (k-gram, document) run answers "first capture" / "last reference" with one reduction;
* ``offsets``: any other gap: one dense pass per gap length d, compare k-gram ids at q and
  q - d; once few references can still reach further back, the passes go sparse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tokrex.pattern.layout import Layout
from tokrex.pattern.runs import INF


@dataclass
class Pairs:
    """The outcome of the pair search."""

    q: np.ndarray
    """Reference starts (boundaries, ascending) with at least one compatible capture."""
    first: np.ndarray
    """For each q, the earliest compatible capture position p."""
    start: np.ndarray | None
    """For each q, the least match start over its compatible captures (when asked for)."""
    capture: np.ndarray | None
    """(M,) capture positions that pair with some reference (when asked for)."""


def kgram_ids(core_ids: np.ndarray, k: int) -> np.ndarray:
    """(M,) an id per position for the k core texts starting there (-1 when they leave the document)."""
    if k == 1:
        return core_ids.astype(np.int64)
    M = core_ids.size
    base = int(core_ids.max()) + 2
    ids = core_ids.astype(np.int64)
    valid = ids >= 0
    exact = base**k < 2**62
    for step in range(1, k):
        nxt = np.full(M, -1, dtype=np.int64)
        nxt[: M - step] = core_ids[step:]
        valid &= nxt >= 0
        ids = ids * base + (nxt + 1)
        if not exact:
            _, ids = np.unique(np.where(valid, ids, -1), return_inverse=True)
            ids = ids.ravel().astype(np.int64)
    return np.where(valid, ids, -1)


def _groups(lay: Layout, kg: np.ndarray, k: int):
    """(positions sorted by (k-gram, position), segment id per element, segment starts), cached."""
    key = f"_groups_{k}"
    cached = lay.__dict__.get(key)
    if cached is None:
        valid = np.flatnonzero(kg >= 0)
        ids = kg[valid]
        new = np.zeros(valid.size, dtype=bool)
        new[:1] = True
        if ids.size and int(ids.max()) < 2**16:
            order = np.argsort(ids.astype(np.uint16), kind="stable")  # radix sort
            pos = valid[order]
            group_start = np.cumsum(np.bincount(ids))[:-1]  # where each k-gram's run begins
            new[group_start[group_start < new.size]] = True
            doc = lay.doc_of[pos]
            new[1:] |= doc[1:] != doc[:-1]
        else:
            order = np.argsort(ids, kind="stable")
            pos = valid[order]
            grp, doc = ids[order], lay.doc_of[pos]
            new[1:] = (grp[1:] != grp[:-1]) | (doc[1:] != doc[:-1])
        starts = np.flatnonzero(new)
        seg = np.cumsum(new) - 1
        cached = lay.__dict__[key] = (pos, seg, starts)
    return cached


def grouped(lay, kg, k, A, Q, d, start_x, want_capture) -> Pairs:
    """Pairs when the gap is any run of tokens of length >= d - k within the document."""
    pos, seg, starts = _groups(lay, kg, k)
    M = lay.M
    if pos.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Pairs(empty, empty, empty, np.zeros(M, dtype=bool))
    is_a, is_q = A[pos], Q[pos]
    first_a = np.minimum.reduceat(np.where(is_a, pos, M), starts)[seg]
    ok = is_q & (first_a <= pos - d)
    q_mask = np.zeros(M, dtype=bool)
    q_mask[pos[ok]] = True
    first_of = np.zeros(M, dtype=np.int64)
    first_of[pos[ok]] = first_a[ok]
    q = np.flatnonzero(q_mask)
    capture = None
    if want_capture:
        last_q = np.maximum.reduceat(np.where(is_q, pos, -1), starts)[seg]
        capture = np.zeros(M, dtype=bool)
        capture[pos[is_a & (last_q >= pos + d)]] = True
    start = None
    if start_x is not None:
        # least start_x over the captures of the same run at or before q - d: an exclusive
        # segmented prefix minimum, stepped back past captures closer than d.
        values = np.where(is_a, start_x[pos], INF).astype(np.int64)
        offset = (seg.max() + 1 - seg).astype(np.int64) * (INF + 1)
        prefix = np.minimum.accumulate(values + offset) - offset
        idx = np.flatnonzero(ok)
        j = idx - 1
        for _ in range(d):
            back = (j >= 0) & (seg[np.maximum(j, 0)] == seg[idx]) & (pos[np.maximum(j, 0)] > pos[idx] - d)
            if not back.any():
                break
            j = np.where(back, j - 1, j)
        inside = (j >= 0) & (seg[np.maximum(j, 0)] == seg[idx])
        best = np.where(inside, prefix[np.maximum(j, 0)], INF)
        start_of = np.zeros(M, dtype=np.int64)
        start_of[pos[idx]] = best
        start = start_of[q]
    return Pairs(q, first_of[q], start, capture)


def offsets(lay, kg, k, A, Q, T, L, lo, hi, start_x, want_capture) -> Pairs:
    """Pairs for a gap of T{lo,hi}: one pass per gap length (dense, then sparse)."""
    M = lay.M
    cand = Q & (kg >= 0) & (L[:M] >= lo)
    if not cand.any():
        empty = np.zeros(0, dtype=np.int64)
        return Pairs(empty, empty, empty, np.zeros(M, dtype=bool))
    reach = int(L[:M][cand].max()) if hi is None else min(hi, int(L[:M][cand].max()))
    best_d = np.zeros(M, dtype=np.int64)
    found = np.zeros(M, dtype=bool)
    capture = np.zeros(M, dtype=bool) if want_capture else None
    start_min = np.full(M, INF, dtype=np.int64) if start_x is not None else None
    active = None
    for gap in range(lo, reach + 1):
        d = gap + k
        if d >= M:
            break
        if active is None and gap % 8 == 0 and np.count_nonzero(cand[d:] & (L[d:M] >= gap)) < M // 32:
            active = np.flatnonzero(cand & (L[:M] >= gap))
        if active is None:
            hit = cand[d:] & (L[d:M] >= gap) & A[: M - d] & (kg[d:] == kg[: M - d])
            q_hit = np.flatnonzero(hit) + d
        else:
            active = active[(L[active] >= gap) & (active >= d)]
            if active.size == 0:
                break
            p = active - d
            q_hit = active[A[p] & (kg[p] == kg[active])]
        found[q_hit] = True
        best_d[q_hit] = d  # ascending d: the last hit is the earliest capture
        if capture is not None:
            capture[q_hit - d] = True
        if start_min is not None:
            np.minimum.at(start_min, q_hit, start_x[q_hit - d])
    q = np.flatnonzero(found)
    return Pairs(q, q - best_d[q], None if start_min is None else start_min[q], capture)
