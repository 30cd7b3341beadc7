"""Everything ``tokrex latent`` shows about one latent, as a JSON-ready dict.

``latent_view(latent, corpus, firings, config, W_dec=None)`` reads the latent's column from the
latent-major index, the co-firing latents from the token-major rows of the tokens it fires on,
and (when the decoder is given) its nearest latents by decoder cosine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tokrex.errors import UsageError
from tokrex.query.contexts import Column, context, sample_rows, strongest, top_tokens
from tokrex.query.metrics import positive_hits
from tokrex.query.ranking import totals


COFIRE_SAMPLE = 1_000_000
"""Co-firing counts of a latent firing more often are estimated from an even sample of its firings."""


@dataclass
class LatentConfig:
    """What the latent dashboard shows; every field is a ``tokrex latent`` option of the same name."""

    contexts: int = 8
    """Top-activating contexts to show."""
    width: int = 8
    """Tokens of context on each side of the centre token."""
    quantiles: str = "0.99,0.9,0.75,0.5,0.25"
    """Comma-separated activation quantiles (among the latent's firings) to sample contexts at."""
    per_quantile: int = 2
    """Contexts shown per quantile."""
    bins: int = 16
    """Bars of the activation histogram."""
    top_tokens: int = 10
    """Tokens listed by firing count and by mean activation."""
    min_count: int = 3
    """A token is listed by mean activation only when the latent fires on it at least this often."""
    cofiring: int = 10
    """Co-firing latents to list (ranked by Jaccard overlap of firing sets)."""
    neighbours: int = 10
    """Nearest latents by decoder cosine to list."""
    relative_share: float = 0.95
    """Matryoshka relatives: an earlier-level latent is a parent when it fires on at least this share of
    this latent's firings; a later-level latent is a child when at least this share of its firings lie inside this one's."""

    def __post_init__(self) -> None:
        for name in ("contexts", "width", "per_quantile", "bins", "top_tokens", "min_count", "cofiring", "neighbours"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a whole number >= 0, not {value!r}")
        if self.bins < 1:
            raise ValueError("bins must be at least 1")
        if not 0 < self.relative_share <= 1:
            raise ValueError(f"relative_share must be in (0, 1], not {self.relative_share!r}")
        self.quantile_list()

    def quantile_list(self) -> list[float]:
        try:
            qs = [float(q) for q in self.quantiles.split(",") if q.strip()]
        except ValueError:
            raise ValueError(f"quantiles must be comma-separated numbers in [0, 1], not {self.quantiles!r}") from None
        if any(not 0 <= q <= 1 for q in qs):
            raise ValueError(f"quantiles must be comma-separated numbers in [0, 1], not {self.quantiles!r}")
        return qs


def check_latent(latent: int, n_latents: int) -> None:
    if not 0 <= latent < n_latents:
        raise UsageError(f"Latent {latent} does not exist: this SAE has {n_latents} latents (ids 0 to {n_latents - 1}).")


def latent_view(latent: int, corpus, firings, config: LatentConfig | None = None, W_dec=None) -> dict:
    """The dashboard data for ``latent`` (see docs/output.md, ``tokrex latent``)."""
    cfg = config or LatentConfig()
    n_latents, n_tokens = firings.n_latents, firings.n_tokens
    check_latent(latent, n_latents)
    tot = totals(firings)
    col = Column.of(firings, latent)
    n = len(col.tokens)
    acts = col.acts.astype(np.float64)
    view = {
        "latent": latent,
        "level": int(tot.level[latent]),
        "n_latents": n_latents,
        "sae": str(firings.sae_id),
        "n_tokens": n_tokens,
        "n_fires": n,
        "freq": n / n_tokens if n_tokens else 0.0,
        "act_mean": float(acts.mean()) if n else 0.0,
        "act_std": float(acts.std()) if n else 0.0,
        "act_max": float(acts.max()) if n else 0.0,
        "histogram": _histogram(acts, cfg.bins),
        "top_contexts": [
            context(corpus, col, int(t), cfg.width).to_dict() for t in strongest(col.tokens, col.acts, cfg.contexts)
        ],
        "quantiles": _quantile_samples(corpus, col, cfg),
        "top_tokens_by_count": _tokens(corpus, col, cfg.top_tokens),
        "top_tokens_by_mean_act": _tokens_by_mean(corpus, col, cfg.top_tokens, cfg.min_count),
    }
    counts, sampled = _cofire_counts(firings, col.tokens, n_latents, COFIRE_SAMPLE)
    counts[latent] = 0
    view["cofiring_estimated"] = sampled
    view["cofiring"] = _cofiring(counts, n, tot, cfg.cofiring)
    view["relatives"] = _relatives(latent, counts, n, tot, cfg.relative_share)
    view["nearest"] = _nearest(W_dec, latent, tot.level, cfg.neighbours) if W_dec is not None else None
    return view


def _histogram(acts: np.ndarray, bins: int) -> dict:
    if len(acts) == 0:
        return {"edges": [], "counts": []}
    hi = float(acts.max())
    counts, edges = np.histogram(acts, bins=bins, range=(0.0, hi if hi > 0 else 1.0))
    return {"edges": edges.tolist(), "counts": counts.astype(int).tolist()}


def _quantile_samples(corpus, col: Column, cfg: LatentConfig) -> list[dict]:
    if len(col.tokens) == 0:
        return []
    order = np.lexsort((col.tokens, col.acts))  # ascending activation
    out = []
    for q in cfg.quantile_list():
        mid = int(round(q * (len(order) - 1)))
        lo = max(0, min(mid - cfg.per_quantile // 2, len(order) - cfg.per_quantile))
        picks = order[lo : lo + cfg.per_quantile]
        out.append({
            "q": q,
            "act": float(col.acts[order[mid]]),
            "contexts": [context(corpus, col, int(col.tokens[i]), cfg.width).to_dict() for i in picks[::-1]],
        })
    return out


def _tokens(corpus, col: Column, n: int) -> list[dict]:
    rows = top_tokens(corpus.ids, col.tokens, n, col.acts)
    for r in rows:
        r["text"] = corpus.vocab.text([r["id"]])
    return rows


def _tokens_by_mean(corpus, col: Column, n: int, min_count: int) -> list[dict]:
    if len(col.tokens) == 0 or n == 0:
        return []
    tid = np.asarray(corpus.ids[col.tokens])
    counts = np.bincount(tid)
    means = np.bincount(tid, weights=col.acts.astype(np.float64), minlength=len(counts)) / np.maximum(counts, 1)
    ok = np.flatnonzero(counts >= max(min_count, 1))
    order = ok[np.lexsort((ok, -means[ok]))][:n]
    return [
        {"id": int(i), "text": corpus.vocab.text([int(i)]), "count": int(counts[i]), "mean_act": float(means[i])}
        for i in order
    ]


def _cofire_counts(firings, tokens: np.ndarray, n_latents: int, sample: int) -> tuple[np.ndarray, bool]:
    """How many of ``tokens`` each latent fires on (from the token-major rows, read in blocks).

    Above ``sample`` tokens, an even sample of that many is read and the counts are scaled up.
    """
    index = firings.token_index()
    rows = sample_rows(len(tokens), sample)
    picked = np.asarray(tokens if rows is None else tokens[rows], dtype=np.int64)
    counts, _ = positive_hits(index.offsets, index.latent, index.act, picked, n_latents)
    if rows is None:
        return counts, False
    return np.rint(counts * (len(tokens) / max(len(picked), 1))).astype(np.int64), True


def _cofiring(counts: np.ndarray, n: int, tot, top: int) -> list[dict]:
    other = tot.n_fires_raw
    nz = np.flatnonzero(counts)
    jaccard = counts[nz] / (n + other[nz] - counts[nz])
    order = np.lexsort((nz, -jaccard))[:top]
    return [
        {
            "latent": int(nz[i]), "level": int(tot.level[nz[i]]), "count": int(counts[nz[i]]),
            "share": counts[nz[i]] / n, "other_share": counts[nz[i]] / other[nz[i]], "jaccard": float(jaccard[i]),
        }
        for i in order
    ]


def _relatives(latent: int, counts: np.ndarray, n: int, tot, share: float) -> dict:
    level = tot.level
    other = tot.n_fires_raw
    nz = np.flatnonzero(counts)
    parents = nz[(level[nz] < level[latent]) & (counts[nz] >= share * n)]
    children = nz[(level[nz] > level[latent]) & (counts[nz] >= share * other[nz])]

    def rows(ids, denom):
        ids = ids[np.lexsort((ids, -(counts[ids] / np.maximum(denom(ids), 1))))]
        return [
            {"latent": int(i), "level": int(level[i]), "count": int(counts[i]), "share": float(counts[i] / max(denom(i), 1))}
            for i in ids
        ]

    return {
        "parents": rows(parents, lambda i: np.full(np.shape(i), n)),
        "children": rows(children, lambda i: other[i]),
    }


def _nearest(W_dec, latent: int, level: np.ndarray, top: int) -> list[dict]:
    W = np.asarray(W_dec, dtype=np.float32)
    norms = np.linalg.norm(W, axis=1)
    norms[norms == 0] = 1.0
    cos = (W @ W[latent]) / (norms * norms[latent])
    cos[latent] = -np.inf
    order = np.lexsort((np.arange(len(cos)), -cos))[:top]
    return [{"latent": int(i), "level": int(level[i]), "cosine": float(cos[i])} for i in order]
