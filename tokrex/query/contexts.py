"""Contexts for display: a token with its neighbours and one latent's activation on each of them.

Used for the example hits, misses and false alarms under ``tokrex search`` and for the
top-activating and quantile samples of ``tokrex latent``. Only shown rows are rendered.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class Context:
    """One corpus token in context."""

    token: int
    """Global index of the centre token."""
    doc: int
    """Its document."""
    pos: int
    """Its 0-based position within the document."""
    pieces: list[str]
    """Display text of each token of the window (same document only), one line each."""
    acts: list[float]
    """The latent's activation on each token of the window (0 where silent)."""
    center: int
    """Index of the centre token within ``pieces``."""

    @property
    def act(self) -> float:
        return self.acts[self.center]

    def to_dict(self) -> dict:
        out = asdict(self)
        out["act"] = self.act
        out["text"] = "".join(self.pieces)
        return out


class Column:
    """One latent's firings: sorted token indices and activations (from the latent-major index).

    The arrays are kept in their stored dtypes (views of the memory-mapped index when possible).
    """

    def __init__(self, tokens: np.ndarray, acts: np.ndarray):
        self.tokens = np.asarray(tokens)
        self.acts = np.asarray(acts)

    @classmethod
    def of(cls, firings, latent: int) -> Column:
        index = firings.latent_index()
        s, e = int(index.offsets[latent]), int(index.offsets[latent + 1])
        return cls(index.token[s:e], index.act[s:e])

    def above(self, threshold: float) -> Column:
        """Only the firings above ``threshold`` (every stored firing is above 0)."""
        if threshold <= 0:
            return self
        keep = self.acts > np.float64(threshold)
        return Column(self.tokens[keep], self.acts[keep])

    def act_at(self, tokens: np.ndarray) -> np.ndarray:
        """Activation at each of ``tokens`` (0 where the latent is silent), as float64."""
        if len(self.tokens) == 0:
            return np.zeros(len(tokens))
        tokens = np.asarray(tokens).astype(self.tokens.dtype, copy=False)  # same dtype: no copy of the column
        i = np.searchsorted(self.tokens, tokens)
        i_ok = np.minimum(i, len(self.tokens) - 1)
        hit = (i < len(self.tokens)) & (self.tokens[i_ok] == tokens)
        return np.where(hit, self.acts[i_ok].astype(np.float64), 0.0)

    def mask(self, n_tokens: int) -> np.ndarray:
        """Boolean mask over the corpus: where this latent fires."""
        out = np.zeros(n_tokens, dtype=bool)
        out[self.tokens] = True
        return out


def _clean(text: str) -> str:
    from tokrex.corpus.kwic import visible

    return visible(text)


def context(corpus, column: Column, token: int, width: int) -> Context:
    """The window of ``width`` tokens either side of ``token`` (clipped to its document)."""
    offsets = corpus.doc_offsets
    doc = int(np.searchsorted(offsets, token, side="right") - 1)
    lo = max(int(offsets[doc]), token - width)
    hi = min(int(offsets[doc + 1]), token + width + 1)
    ids = corpus.ids[lo:hi]
    vocab = corpus.vocab
    pieces = [_clean(vocab.text(ids[i : i + 1])) for i in range(len(ids))]
    acts = column.act_at(np.arange(lo, hi)).astype(float).tolist()
    return Context(int(token), doc, int(token - offsets[doc]), pieces, acts, int(token - lo))


def spread(tokens: np.ndarray, n: int) -> np.ndarray:
    """Up to ``n`` of ``tokens`` evenly spaced over the array (deterministic)."""
    if len(tokens) <= n:
        return tokens
    return tokens[np.linspace(0, len(tokens) - 1, n).round().astype(np.int64)]


def sample_rows(n: int, sample: int, blocks: int = 64) -> np.ndarray | None:
    """Row numbers of an even sample of ``sample`` out of ``n`` rows, or None when ``n <= sample``.

    The sample is ``blocks`` runs of consecutive rows spread evenly, so reading it from a
    memory-mapped column touches a few pages rather than every page of the column.
    """
    if n <= sample:
        return None
    run = max(sample // blocks, 1)
    starts = np.linspace(0, n - run, blocks).astype(np.int64)
    return (starts[:, None] + np.arange(run, dtype=np.int64)[None, :]).ravel()


def strongest(tokens: np.ndarray, acts: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` tokens with the highest activation, strongest first (ties: earliest token).

    ``tokens`` must be ascending. Linear time: only the top candidates are sorted.
    """
    if n <= 0 or len(tokens) == 0:
        return np.zeros(0, dtype=np.int64)
    if len(tokens) > n:
        cut = np.partition(acts, len(acts) - n)[len(acts) - n]
        above = np.flatnonzero(acts > cut)
        equal = np.flatnonzero(acts == cut)[: n - len(above)]
        pick = np.concatenate([above, equal])
    else:
        pick = np.arange(len(tokens))
    t, a = np.asarray(tokens[pick], dtype=np.int64), np.asarray(acts[pick], dtype=np.float64)
    return t[np.lexsort((t, -a))][:n]


def _silent_positives(column: Column, positives: np.ndarray, n: int) -> np.ndarray:
    """Up to ``n`` positives where the latent is silent, spread over the corpus.

    Checks growing even samples of the positives first, so a latent with few misses among many
    positives does not cost a pass over all of them unless needed.
    """
    if n <= 0 or len(positives) == 0:
        return positives[:0]
    size = 16 * n
    while True:
        cand = spread(positives, size)
        silent = cand[column.act_at(cand) == 0]
        if len(silent) >= n or len(cand) == len(positives):
            return spread(silent, n)
        size *= 16


def examples(
    corpus, column: Column, positives: np.ndarray, n: int, width: int, is_pos: np.ndarray | None = None,
    sample: int | None = None,
) -> dict[str, list[Context]]:
    """Hits (pattern and latent), misses (pattern only) and false alarms (latent only) of one latent.

    ``column`` holds the latent's firings above the threshold; ``is_pos`` (optional) is the
    positives as a boolean mask over the corpus. Hits and false alarms are the strongest
    activations (with ``sample``: the strongest among an even sample of that many firings when the
    latent fires more often); misses are spread evenly over the corpus.
    """
    if is_pos is None:
        is_pos = np.zeros(corpus.n_tokens, dtype=bool)
        is_pos[positives] = True
    tokens, acts = column.tokens, column.acts
    rows = sample_rows(len(tokens), sample) if sample else None
    if rows is not None:
        tokens, acts = tokens[rows], acts[rows]
    is_pos_row = is_pos[tokens]
    hit_tokens = strongest(tokens[is_pos_row], acts[is_pos_row], n)
    alarm_tokens = strongest(tokens[~is_pos_row], acts[~is_pos_row], n)
    miss_tokens = _silent_positives(column, positives, n)
    return {
        "hits": [context(corpus, column, int(t), width) for t in hit_tokens],
        "misses": [context(corpus, column, int(t), width) for t in miss_tokens],
        "false_alarms": [context(corpus, column, int(t), width) for t in alarm_tokens],
    }


def top_tokens(
    ids: np.ndarray, tokens: np.ndarray, n: int, acts: np.ndarray | None = None, sample: int | None = None
) -> list[dict]:
    """The ``n`` token ids that most often occur at ``tokens`` (with count and mean activation); ties by id.

    With ``sample``, a latent firing more often is counted on an even sample (``sample_rows``) of
    that many of its firings and the counts are scaled up (estimates, flagged ``"estimated": true``).
    """
    if len(tokens) == 0 or n <= 0:
        return []
    total = len(tokens)
    rows = sample_rows(total, sample) if sample else None
    if rows is not None:
        tokens = tokens[rows]
        acts = acts[rows] if acts is not None else None
    tid = np.asarray(ids[np.asarray(tokens, dtype=np.int64)])
    counts = np.bincount(tid)
    present = np.flatnonzero(counts)
    order = present[np.lexsort((present, -counts[present]))][:n]
    scale = total / len(tokens)
    out = [{"id": int(i), "count": int(round(counts[i] * scale))} for i in order]
    if rows is not None:
        for row in out:
            row["estimated"] = True
    if acts is not None:
        sums = np.bincount(tid, weights=np.asarray(acts, dtype=np.float64), minlength=len(counts))
        for row, i in zip(out, order):
            row["mean_act"] = float(sums[i] / counts[i])
    return out
