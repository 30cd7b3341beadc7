"""Ranking every latent of an SAE against a pattern's positives.

Two engines compute the same numbers (tests check both against a brute-force computation):

- ``numpy`` (the default when the store has its token-major index): the positives' rows are
  gathered through the CSR offsets, so only the positive tokens' firings are read, then counted
  per latent with ``bincount`` in two threads; metrics are vectorized numpy (``metrics.py``).
  About 0.35 s for 1M positives x 32 firings on 2 cores.
- ``duckdb``: the positives are registered as an Arrow table and joined with the ``firings`` view
  (Parquet); metrics are SQL over bound parameters (``rank.sql``). Portable, but every firing row
  is probed, so it takes seconds on hundreds of millions of rows.

Firing totals come from the latent table; with a threshold > 0 the firing counts are recounted
from the latent-major index (numpy) or the firings (duckdb). AUROC is always numpy over the
latent-major columns of the latents that need it (see ``metrics.auroc``).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np

from tokrex.errors import QueryError
from tokrex.query.arrow import table as arrow_table
from tokrex.query.arrow import to_numpy
from tokrex.query.config import SearchConfig
from tokrex.query.metrics import auroc, auroc_half, fires_above, latent_metrics, positive_hits, row_index

COLUMNS = (
    "rank", "latent", "level", "tp", "fp", "fn", "precision", "recall", "f1", "cosine",
    "mean_act_pos", "mean_act_neg", "miss_share", "n_fires",
)

_FIRES_FROM_TABLE = "WITH fires AS (SELECT latent, n_fires FROM latents),\n"
_FIRES_ABOVE = "WITH fires AS (SELECT latent, count(*) AS n_fires FROM firings WHERE act > $threshold GROUP BY latent),\n"


@dataclass
class Totals:
    """Per-latent totals over the whole corpus."""

    level: np.ndarray
    """Matryoshka level of each latent."""
    n_fires: np.ndarray
    """Tokens where the latent's activation is above the threshold."""
    n_fires_raw: np.ndarray
    """Tokens where the latent's activation is above 0."""
    act_sum: np.ndarray
    """Sum of the latent's activations."""
    act_sq_sum: np.ndarray
    """Sum of the squared activations."""


def totals(firings, threshold: float = 0.0) -> Totals:
    """Read the latent table (and recount firings above ``threshold`` when it is > 0)."""
    table = firings.latents()
    n = firings.n_latents
    latent = to_numpy(table.column("latent")).astype(np.int64)

    def col(name: str, dtype) -> np.ndarray:
        out = np.zeros(n, dtype=dtype)
        out[latent] = np.nan_to_num(to_numpy(table.column(name)).astype(dtype))
        return out

    n_fires_raw = col("n_fires", np.int64)
    n_fires = n_fires_raw
    if threshold > 0:
        index = firings.latent_index()
        n_fires = fires_above(index.offsets, index.act, threshold)
    return Totals(col("level", np.int32), n_fires, n_fires_raw, col("act_sum", np.float64), col("act_sq_sum", np.float64))


def scores_numpy(positives: np.ndarray, firings, tot: Totals, threshold: float) -> dict[str, np.ndarray]:
    """All metrics per latent via the token-major CSR index."""
    index = firings.token_index()
    tp, pos_act_sum = positive_hits(index.offsets, index.latent, index.act, positives, firings.n_latents, threshold)
    return latent_metrics(tp, pos_act_sum, tot.n_fires, tot.act_sum, tot.act_sq_sum, len(positives), firings.n_tokens)


def scores_duckdb(con, positives: np.ndarray, n_tokens: int, n_latents: int, threshold: float) -> dict[str, np.ndarray]:
    """All metrics per latent via SQL over a connection with ``firings`` and ``latents`` views."""
    import pyarrow as pa

    sql = (_FIRES_ABOVE if threshold > 0 else _FIRES_FROM_TABLE) + _sql_text()
    con.register("tokrex_positives", pa.table({"token": np.asarray(positives, dtype=np.int64)}))
    try:
        params = {"n_pos": len(positives), "n_tokens": int(n_tokens), "threshold": float(threshold)}
        result = con.sql(sql, params=params).to_arrow_table()
    finally:
        con.unregister("tokrex_positives")
    latent = result.column("latent").to_numpy()
    out = {}
    for name in ("tp", "fp", "fn", "precision", "recall", "f1", "cosine", "mean_act_pos", "mean_act_neg", "miss_share"):
        values = result.column(name).to_numpy(zero_copy_only=False)
        arr = np.zeros(n_latents, dtype=values.dtype)
        arr[latent] = values
        out[name] = arr
    return out


def _sql_text() -> str:
    return resources.files("tokrex.query").joinpath("rank.sql").read_text(encoding="utf-8")


def auroc_of(latents: np.ndarray, firings, is_pos: np.ndarray, n_pos: int) -> np.ndarray:
    """Exact AUROC of the given latents, reading their latent-major columns."""
    latents = np.asarray(latents, dtype=np.int64)
    index = firings.latent_index()
    offsets = np.asarray(index.offsets, dtype=np.int64)
    if np.asarray(index.act[:0]).dtype == np.float16:  # the store's columns: linear time, one latent at a time
        out = np.empty(len(latents))
        for i, lat in enumerate(latents.tolist()):
            s, e = int(offsets[lat]), int(offsets[lat + 1])
            out[i] = auroc_half(index.act[s:e], is_pos[index.token[s:e]], n_pos, firings.n_tokens)
        return out
    rows = row_index(offsets, latents)
    lens = offsets[latents + 1] - offsets[latents]
    col_offsets = np.concatenate([[0], np.cumsum(lens)])
    tokens = np.asarray(index.token[rows], dtype=np.int64)
    return auroc(col_offsets, np.asarray(index.act[rows]), is_pos[tokens], n_pos, firings.n_tokens)


def auroc_bounds(tp0: np.ndarray, n_fires_raw: np.ndarray, n_pos: int, n_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper AUROC bounds from counts alone (firing positives below / above every firing negative)."""
    n_neg = n_tokens - n_pos
    if n_pos == 0 or n_neg == 0:
        half = np.full(len(tp0), 0.5)
        return half, half
    fp0 = n_fires_raw - tp0
    zero_neg = n_neg - fp0
    ties = 0.5 * (n_pos - tp0) * zero_neg
    lo = (tp0 * zero_neg + ties) / (n_pos * n_neg)
    hi = (tp0 * n_neg + ties) / (n_pos * n_neg)
    return lo, hi


def _order(values: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Indices sorting by value descending, then id ascending."""
    return np.lexsort((ids, -values))


def rank(
    positives: np.ndarray,
    firings,
    config: SearchConfig | None = None,
    *,
    con=None,
    tot: Totals | None = None,
    with_scores: bool = False,
):
    """Rank the latents of ``firings`` against sorted, unique global token indices ``positives``.

    Returns an Arrow table with ``COLUMNS`` (plus ``auroc`` when asked), best first, at most
    ``config.top`` rows (all when 0), only latents firing at least ``config.min_fires`` times.
    ``con`` is a DuckDB connection with ``firings``/``latents`` views (duckdb engine only).
    ``with_scores=True`` returns ``(table, scores)``, scores being every metric for every latent.
    """
    cfg = config or SearchConfig()
    positives = np.asarray(positives, dtype=np.int64)
    n_pos, n_tokens, n_latents = len(positives), firings.n_tokens, firings.n_latents
    if n_pos and (positives[0] < 0 or positives[-1] >= n_tokens):
        raise QueryError(f"Positives must be token indices in 0..{n_tokens - 1} of this corpus.")
    tot = tot or totals(firings, cfg.threshold)
    engine = cfg.engine
    if engine == "auto":  # numpy whenever a token-major index exists
        engine = "duckdb" if con is not None and not hasattr(firings, "token_index") else "numpy"
    if engine == "duckdb":
        if con is None:
            connect = getattr(firings, "connect", None)
            if connect is None:
                raise QueryError("The duckdb engine needs a connection with firings and latents views.")
            con = connect()
        m = scores_duckdb(con, positives, n_tokens, n_latents, cfg.threshold)
    else:
        m = scores_numpy(positives, firings, tot, cfg.threshold)
    ids = np.arange(n_latents, dtype=np.int64)
    eligible = tot.n_fires >= cfg.min_fires
    cand = ids[eligible]
    want = cfg.top if cfg.top > 0 else len(cand)

    au = None
    if cfg.auroc:
        is_pos = np.zeros(n_tokens, dtype=bool)
        is_pos[positives] = True
        tp0 = m["tp"]  # AUROC scores raw activations: count the positives firing above 0
        if cfg.threshold > 0:
            tok = firings.token_index()
            tp0 = positive_hits(tok.offsets, tok.latent, tok.act, positives, n_latents, 0.0)[0]
        lo, hi = auroc_bounds(tp0, tot.n_fires_raw, n_pos, n_tokens)
        au = np.where(lo == hi, lo, np.nan)
    if cfg.by == "auroc":
        chosen = _top_by_auroc(cand, au, hi, want, firings, is_pos, n_pos)
    else:
        chosen = cand[_order(m[cfg.by][cand], cand)][:want]
        if au is not None:
            need = chosen[np.isnan(au[chosen])]
            if len(need):
                au[need] = auroc_of(need, firings, is_pos, n_pos)

    data = {"rank": np.arange(1, len(chosen) + 1, dtype=np.int64), "latent": chosen, "level": tot.level[chosen]}
    for name in COLUMNS[3:]:
        data[name] = (tot.n_fires if name == "n_fires" else m[name])[chosen]
    if au is not None:
        data["auroc"] = au[chosen]
    table = arrow_table(data)
    return (table, m) if with_scores else table


def _top_by_auroc(cand, au, hi, want, firings, is_pos, n_pos) -> np.ndarray:
    """The ``want`` best candidates by exact AUROC, computing it only for latents whose upper bound can win."""
    order = cand[_order(hi[cand], cand)]
    batch = max(64, 2 * want)
    done = 0
    while done < len(order):
        nxt = order[done : done + batch]
        need = nxt[np.isnan(au[nxt])]
        if len(need):
            au[need] = auroc_of(need, firings, is_pos, n_pos)
        done += len(nxt)
        known = order[:done]
        best = known[_order(au[known], known)][:want]
        if done >= len(order) or (len(best) >= want and au[best[-1]] > hi[order[done]]):
            break
    known = order[:done]
    return known[_order(au[known], known)][:want]
