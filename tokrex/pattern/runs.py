"""Run-length scans for a repeated single-token predicate, in O(n) array passes.

``T`` is a (M,) boolean mask over padded tokens; boundaries run 0..M.  A span ``[s, e)``
matches ``T{m,n}`` when every token in it is in ``T`` and ``m <= e - s <= n``.
"""

from __future__ import annotations

import numpy as np

INF = np.iinfo(np.int32).max
"""'Unreached' in start-position (min-plus) arrays."""


def _to_int(bits: np.ndarray) -> int:
    """A boolean array as a Python integer, element i as bit i."""
    return int.from_bytes(np.packbits(bits, bitorder="little").tobytes(), "little")


def _from_int(value: int, n: int) -> np.ndarray:
    data = np.frombuffer(value.to_bytes((n + 7) // 8, "little"), dtype=np.uint8)
    return np.unpackbits(data, bitorder="little", count=n).view(bool)


def star_bool(X: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Boundaries reached from X by one or more T tokens.

    Bit-stream addition does the run scan: with markers M and class C as integers,
    ``((M & C) + C) ^ C | M`` sets every position a carry runs through (MatchStar, as in
    Parabix regex matching), so the whole corpus is scanned in a handful of word operations.
    """
    B = X.size
    C = np.zeros(B, dtype=bool)
    C[:-1] = T
    first = np.zeros(B, dtype=bool)
    np.logical_and(X[:-1], T, out=first[1:])
    m, c = _to_int(first), _to_int(C)
    return _from_int((((m & c) + c) ^ c) | m, B)


def star_bool_back(E: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Boundaries from which one or more T tokens reach E (``star_bool`` on reversed arrays)."""
    return star_bool(np.ascontiguousarray(E[::-1]), np.ascontiguousarray(T[::-1]))[::-1]


def run_before(T: np.ndarray) -> np.ndarray:
    """(M+1,) number of consecutive T tokens ending just before each boundary."""
    M = T.size
    idx = np.arange(M, dtype=np.int32)
    last_break = np.maximum.accumulate(np.where(T, np.int32(-1), idx))
    out = np.empty(M + 1, dtype=np.int32)
    out[0] = 0
    np.subtract(idx, last_break, out=out[1:])
    return out


def run_after(T: np.ndarray) -> np.ndarray:
    """(M+1,) number of consecutive T tokens starting at each boundary."""
    M = T.size
    idx = np.arange(M, dtype=np.int32)
    next_break = np.minimum.accumulate(np.where(T, np.int32(M), idx)[::-1])[::-1]
    out = np.empty(M + 1, dtype=np.int32)
    out[M] = 0
    np.subtract(next_break, idx, out=out[:M])
    return out


def _window_any(X: np.ndarray, lo: np.ndarray, hi: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """valid & (X has a True in [lo, hi]) per entry."""
    counts = np.zeros(X.size + 1, dtype=np.int32)
    np.cumsum(X, out=counts[1:], dtype=np.int32)
    lo = np.where(valid, lo, 0)
    hi = np.where(valid, hi, -1)
    return valid & (counts[hi + 1] > counts[lo])


def forward_bool(X: np.ndarray, T: np.ndarray, lo: int, hi: int | None) -> np.ndarray:
    """Boundaries e reached from some s in X by a span of T{lo',hi} with lo' = max(lo, 1)."""
    lo = max(lo, 1)
    L = run_before(T)
    e = np.arange(X.size, dtype=np.int32)
    if hi is None and lo == 1:
        last = np.maximum.accumulate(np.where(X, e, np.int32(-1)))
        out = np.zeros(X.size, dtype=bool)
        out[1:] = (L[1:] > 0) & (last[:-1] >= e[1:] - L[1:])
        return out
    reach = L if hi is None else np.minimum(L, hi)
    return _window_any(X, e - reach, e - lo, L >= lo)


def backward_bool(E: np.ndarray, T: np.ndarray, lo: int, hi: int | None) -> np.ndarray:
    """Boundaries s from which some e in E is reached by a span of T{lo',hi}, lo' = max(lo, 1)."""
    lo = max(lo, 1)
    R = run_after(T)
    s = np.arange(E.size, dtype=np.int32)
    reach = R if hi is None else np.minimum(R, hi)
    return _window_any(E, s + lo, s + reach, R >= lo)


def _segment_prefix_min(X: np.ndarray, L: np.ndarray) -> np.ndarray:
    """min X over [b - L[b], b] for every boundary b (the run containing b, up to b)."""
    B = X.size
    seg = (np.arange(B, dtype=np.int64) - L) * -1 + B  # decreasing per run start
    big = np.int64(INF) + 1
    key = X.astype(np.int64) + seg * big
    np.minimum.accumulate(key, out=key)
    key -= seg * big
    return key.astype(np.int32)


def segment_offsets(T: np.ndarray) -> np.ndarray:
    """(M+1,) int64 offsets that make a running minimum restart at every run of T (see star_min)."""
    L = run_before(T)
    B = L.size
    return (B - (np.arange(B, dtype=np.int64) - L)) * (np.int64(INF) + 1)


def star_min(X: np.ndarray, offsets: np.ndarray, penalty: np.ndarray) -> np.ndarray:
    """For each boundary e, the least X[s] over spans [s, e) of one or more T tokens.

    A running minimum within each run of T: adding offsets that shrink from run to run makes
    every earlier run's values larger than any of the current one, so one ``minimum.accumulate``
    serves all runs.  ``penalty`` is 0 on T tokens and INF elsewhere."""
    key = X.astype(np.int64)
    key += offsets
    np.minimum.accumulate(key, out=key)
    key -= offsets
    out = np.empty(X.size, dtype=np.int32)
    out[0] = INF
    np.maximum(key[:-1].astype(np.int32), penalty, out=out[1:])
    return out


def _sliding_min(X: np.ndarray, w: int) -> np.ndarray:
    """min X over [i - w + 1, i] for every i (van Herk / Gil-Werman, O(n))."""
    B = X.size
    n_blocks = -(-(B + w - 1) // w)
    Z = np.full(n_blocks * w, INF, dtype=np.int32)
    Z[w - 1 : w - 1 + B] = X
    blocks = Z.reshape(n_blocks, w)
    g = np.minimum.accumulate(blocks, axis=1).ravel()
    h = np.minimum.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].ravel()
    i = np.arange(B)
    return np.minimum(h[i], g[i + w - 1])


def forward_min(X: np.ndarray, T: np.ndarray, lo: int, hi: int | None) -> np.ndarray:
    """For each boundary e, the least X[s] over spans [s, e) of T{lo',hi}; INF when none."""
    lo = max(lo, 1)
    L = run_before(T)
    B = X.size
    e = np.arange(B, dtype=np.int64)
    valid = L >= lo
    top = np.where(valid, e - lo, 0)
    if hi is None:
        out = _segment_prefix_min(X, L)[top]
    elif hi - lo + 1 <= 32:
        out = np.full(B, INF, dtype=np.int32)
        for k in range(lo, hi + 1):
            cand = np.full(B, INF, dtype=np.int32)
            cand[k:] = X[: B - k]
            np.minimum(out, np.where(L >= k, cand, INF), out=out)
    else:
        whole = _sliding_min(X, hi - lo + 1)[top]
        partial = _segment_prefix_min(X, L)[top]
        out = np.where(L >= hi, whole, partial)
    return np.where(valid, out, INF).astype(np.int32)


def cover_star(In: np.ndarray, Out: np.ndarray, T: np.ndarray, lo: int) -> np.ndarray:
    """(M,) tokens t inside some span [s, e) of T{lo',} with s in In and e in Out."""
    lo = max(lo, 1)
    if lo == 1:
        before = In | star_bool(In, T)
        after = Out | star_bool_back(Out, T)
        return T & before[:-1] & after[1:]
    M = T.size
    L = run_before(T)
    R = run_after(T)
    t = np.arange(M, dtype=np.int64)
    b = np.arange(M + 1, dtype=np.int64)
    next_in = np.minimum.accumulate(np.where(In, b, M + 1)[::-1])[::-1]
    last_out = np.maximum.accumulate(np.where(Out, b, -1))
    first = next_in[t - L[t]]  # earliest start in the run, at or before t
    last = last_out[t + R[t]]  # latest end in the run, after t
    return T & (first <= t) & (last > t) & (last - first >= lo)
