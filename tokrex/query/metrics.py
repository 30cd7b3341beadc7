"""Ranking metrics as pure functions over plain arrays.

Notation: ``N`` corpus tokens, ``P`` positive tokens (the pattern's positives), ``L`` latents.
A latent *fires* on a token when its activation there is above the threshold (default 0).

Per latent, from two kinds of input:
- over the positives (gathered from the token-major index): ``tp`` (positives where it fires) and
  ``pos_act_sum`` (sum of its raw activation over the positives);
- over the whole corpus (from the latent table, or recounted for a threshold > 0): ``n_fires``,
  ``act_sum`` and ``act_sq_sum`` (raw activations).

then ``fp = n_fires - tp``, ``fn = P - tp``, precision ``tp / n_fires``, recall ``tp / P``,
F1 ``2 tp / (n_fires + P)``, the cosine between the 0/1 positive mask and the activation vector
``pos_act_sum / (sqrt(P) * sqrt(act_sq_sum))``, mean activation on positives ``pos_act_sum / P``
and elsewhere ``(act_sum - pos_act_sum) / (N - P)`` (means over all tokens, silent ones count 0).
A ratio with a zero denominator is 0.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

METRICS = ("tp", "fp", "fn", "precision", "recall", "f1", "cosine", "mean_act_pos", "mean_act_neg", "miss_share")

# Below this many positives the gather runs in one thread; above, in chunks on a small pool
# (numpy releases the GIL while indexing and counting, so two cores give ~1.8x).
_PARALLEL_MIN = 200_000
# Positives per block of the gather (about 250k rows at 32 firings per token).
_BLOCK = 8192


def _ratio(num: np.ndarray, den: np.ndarray | float) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.broadcast_to(np.asarray(den, dtype=np.float64), num.shape)
    out = np.zeros(num.shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def row_index(offsets: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """Row numbers of ``tokens``' entries in a CSR layout: concatenated ``offsets[t]:offsets[t+1]`` ranges."""
    tokens = np.asarray(tokens, dtype=np.int64)
    starts = np.asarray(offsets[tokens], dtype=np.int64)
    lens = np.asarray(offsets[tokens + 1], dtype=np.int64) - starts
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    before = np.cumsum(lens) - lens
    rows = np.repeat(starts - before, lens)
    rows += np.arange(total, dtype=np.int64)
    return rows


def row_owner(offsets: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """For the rows ``row_index`` returns, the index into ``tokens`` each row belongs to."""
    tokens = np.asarray(tokens, dtype=np.int64)
    lens = np.asarray(offsets[tokens + 1], dtype=np.int64) - np.asarray(offsets[tokens], dtype=np.int64)
    return np.repeat(np.arange(len(tokens), dtype=np.int64), lens)


def _hits_chunk(offsets, latent, act, tokens, n_latents: int, threshold: float):
    # Small blocks keep the gathered rows and bincount's float64 weights in cache: 3-4x faster
    # than one gather over all rows.
    tp = np.zeros(n_latents, dtype=np.int64)
    act_sum = np.zeros(n_latents, dtype=np.float64)
    latent, act = np.asarray(latent), np.asarray(act)  # plain views of memory maps: no per-call subclass overhead
    for i in range(0, len(tokens), _BLOCK):
        rows = row_index(offsets, tokens[i : i + _BLOCK])
        lat = np.take(latent, rows)
        a = np.take(act, rows)
        act_sum += np.bincount(lat, weights=a, minlength=n_latents)
        if threshold > 0:
            lat = lat[above(a, threshold)]
        tp += np.bincount(lat, minlength=n_latents)
    return tp, act_sum


def positive_hits(
    offsets: np.ndarray,
    latent: np.ndarray,
    act: np.ndarray,
    positives: np.ndarray,
    n_latents: int,
    threshold: float = 0.0,
    threads: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """``(tp, pos_act_sum)`` per latent from a token-major CSR index, reading only the positives' rows.

    ``offsets`` [n_tokens+1] delimit each token's rows in ``latent``/``act`` (rows hold act > 0).
    """
    positives = np.asarray(positives, dtype=np.int64)
    if threads <= 1 or len(positives) < _PARALLEL_MIN:
        return _hits_chunk(offsets, latent, act, positives, n_latents, threshold)
    chunks = np.array_split(positives, threads)
    with ThreadPoolExecutor(threads) as pool:
        parts = list(pool.map(lambda c: _hits_chunk(offsets, latent, act, c, n_latents, threshold), chunks))
    tp = np.sum([p[0] for p in parts], axis=0, dtype=np.int64)
    s = np.sum([p[1] for p in parts], axis=0)
    return tp, s


def above(act: np.ndarray, threshold: float) -> np.ndarray:
    """``act > threshold`` for activations > 0; on float16 an integer compare of the bit patterns
    (positive float16 values order like their bits), several times faster than numpy's float16 compare."""
    act = np.asarray(act)
    if act.dtype != np.float16:
        return act > np.float64(threshold)
    with np.errstate(over="ignore"):
        floor = np.float16(threshold)  # then the largest float16 <= threshold: a > threshold iff a > floor
    if float(floor) > threshold:
        floor = np.nextafter(floor, np.float16(-np.inf))
    if floor < 0:
        return np.ones(act.shape, dtype=bool)
    return act.view(np.uint16) > floor.view(np.uint16)


def fires_above(offsets: np.ndarray, act: np.ndarray, threshold: float, chunk: int = 1 << 24) -> np.ndarray:
    """Per-latent count of activations above ``threshold`` from a latent-major CSC index (``offsets`` [L+1]).

    Reads ``act`` in chunks of ``chunk`` rows, so memory stays small whatever the store's size.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    starts, ends = offsets[:-1], offsets[1:]
    out = np.zeros(len(starts), dtype=np.int64)
    cum = np.zeros(min(chunk, len(act)) + 1, dtype=np.int32)
    for a in range(0, len(act), chunk):
        b = min(a + chunk, len(act))
        np.cumsum(above(act[a:b], threshold), dtype=np.int32, out=cum[1 : b - a + 1])
        out += cum[np.clip(ends, a, b) - a] - cum[np.clip(starts, a, b) - a]
    return out


def latent_metrics(
    tp: np.ndarray,
    pos_act_sum: np.ndarray,
    n_fires: np.ndarray,
    act_sum: np.ndarray,
    act_sq_sum: np.ndarray,
    n_pos: int,
    n_tokens: int,
) -> dict[str, np.ndarray]:
    """Every metric in ``METRICS`` as one array per metric, indexed by latent."""
    tp = np.asarray(tp, dtype=np.int64)
    n_fires = np.asarray(n_fires, dtype=np.int64)
    pos_act_sum = np.asarray(pos_act_sum, dtype=np.float64)
    act_sum = np.asarray(act_sum, dtype=np.float64)
    fp = n_fires - tp
    fn = n_pos - tp
    norm = np.sqrt(np.asarray(act_sq_sum, dtype=np.float64)) * np.sqrt(float(n_pos))
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": _ratio(tp, n_fires),
        "recall": _ratio(tp, n_pos),
        "f1": _ratio(2 * tp, n_fires + n_pos),
        "cosine": np.clip(_ratio(pos_act_sum, norm), 0.0, 1.0),
        "mean_act_pos": _ratio(pos_act_sum, n_pos),
        "mean_act_neg": _ratio(np.maximum(act_sum - pos_act_sum, 0.0), n_tokens - n_pos),
        "miss_share": _ratio(fn, n_pos),
    }


def auroc(
    col_offsets: np.ndarray,
    col_act: np.ndarray,
    col_is_pos: np.ndarray,
    n_pos: int,
    n_tokens: int,
) -> np.ndarray:
    """AUROC per latent with the activation as the score (0 where silent); ties get half credit.

    Inputs are the latent-major rows of the latents to score: ``col_offsets`` [k+1] delimit each
    latent's rows, ``col_act`` their activations (> 0), ``col_is_pos`` whether each row's token is
    a positive. Mann-Whitney: AUROC = P(score_pos > score_neg) + 0.5 P(score_pos = score_neg).
    """
    col_offsets = np.asarray(col_offsets, dtype=np.int64)
    k = len(col_offsets) - 1
    n_neg = n_tokens - n_pos
    if n_pos == 0 or n_neg == 0:
        return np.full(k, 0.5)
    counts = np.diff(col_offsets)
    owner = np.repeat(np.arange(k, dtype=np.int64), counts)
    act = np.asarray(col_act, dtype=np.float64)
    is_pos = np.asarray(col_is_pos, dtype=bool)
    tp = np.bincount(owner[is_pos], minlength=k)
    fp = counts - tp
    zero_neg = n_neg - fp  # negatives scoring 0
    # Positives that fire beat every silent negative; silent positives tie with them.
    u = tp * zero_neg + 0.5 * (n_pos - tp) * zero_neg
    if len(act) == 0:
        return u / (float(n_pos) * float(n_neg))
    # Firing positives against firing negatives: rank inside each latent by (latent, act).
    order = np.lexsort((act, owner))
    o_owner, o_act, o_pos = owner[order], act[order], is_pos[order]
    neg_cum = np.cumsum(~o_pos)  # negatives up to and including this row (global)
    first = col_offsets[:-1]
    neg_before_latent = np.concatenate([[0], neg_cum])[first][o_owner]
    # Negatives of this latent strictly below this act, and equal to it.
    starts = np.r_[True, (o_owner[1:] != o_owner[:-1]) | (o_act[1:] != o_act[:-1])]
    key_start = np.flatnonzero(starts)
    group = np.cumsum(starts) - 1
    neg_before_group = np.concatenate([[0], neg_cum])[key_start][group] - neg_before_latent
    neg_in_group = np.bincount(group, weights=~o_pos, minlength=len(key_start))[group]
    credit = neg_before_group + 0.5 * neg_in_group
    u += np.bincount(o_owner[o_pos], weights=credit[o_pos], minlength=k)
    return u / (float(n_pos) * float(n_neg))


def auroc_half(act: np.ndarray, is_pos: np.ndarray, n_pos: int, n_tokens: int) -> float:
    """Exact AUROC of one latent from its float16 activations (> 0) and whether each row is a positive.

    Same definition as ``auroc`` (silent tokens score 0, ties count one half), in linear time: the
    bit patterns of positive float16 values sort like the values, so a counting sort over them
    replaces the comparison sort (seconds instead of minutes for latents firing millions of times).
    """
    n_neg = n_tokens - n_pos
    if n_pos == 0 or n_neg == 0:
        return 0.5
    bits = np.asarray(act, dtype=np.float16).view(np.uint16)
    is_pos = np.asarray(is_pos, dtype=bool)
    tp = int(np.count_nonzero(is_pos))
    fp = len(bits) - tp
    zero_neg = n_neg - fp
    twice = (2 * tp + (n_pos - tp)) * zero_neg  # firing positives beat silent negatives; silent ones tie
    if tp and fp:
        lo = int(bits.min())
        shifted = bits - np.uint16(lo)
        width = int(shifted.max()) + 1
        h_pos = np.bincount(shifted[is_pos], minlength=width)
        h_neg = np.bincount(shifted, minlength=width) - h_pos
        below = np.cumsum(h_neg) - h_neg  # firing negatives strictly below each value
        twice += int(np.dot(h_pos, 2 * below + h_neg))
    return twice / (2.0 * n_pos * n_neg)
