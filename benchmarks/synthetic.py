"""The synthetic benchmark store: a corpus of Zipf-distributed token ids plus the firings of a
simulated SAE, written through ``tokrex.store.write_firings`` (so it is a real store).

``make_synthetic_store(path, n_tokens, n_latents, firings_per_token, seed)`` builds it once and
reuses it while ``path/synthetic.json`` records the same parameters. Shape (issue 4, section 8):

- tokens: Zipf(1.05) over a 5,000-word vocabulary in documents of 1,000 tokens; word 0, ``the``,
  is forced to 10% of tokens, so the single-token pattern ``"the"`` has ~10% positives;
- latents: latent i fires on a token with probability proportional to ``(i + 1) ** -0.8``
  (power-law frequencies over ~3 decades, ids in frequency order as in a Matryoshka SAE sorted by
  usage), scaled to ``firings_per_token`` firings per token on average and capped at 0.5;
  latent ``PLANTED`` also fires on 90% of the ``the`` tokens;
- activations: Gamma(shape 2, scale 0.5) + 0.01, stored as float16.

Building the 10M x 16,384 x 32 store (~320M firing rows) takes a few minutes on 2 cores and
~1.2 GB of Parquet (plus ~4.5 GB of derived indexes once built).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import numpy as np

SAE_ID = "5e7e7e7e00000001"
"""The SAE id the synthetic firings are stored under."""
PATTERN = '"the"'
"""A single-token pattern with ~10% positives in the synthetic corpus."""
PLANTED = 7
"""A latent planted on the ``the`` tokens (so the ranking's top means something)."""
VOCAB = 5000
DOC_LEN = 1000
CHUNK_TOKENS = 250_000


OUT = Path(__file__).resolve().parent / "out" / "synthetic"
"""Where the benchmarks keep the store: ``full`` (issue 4's shape) and ``quick`` (for smoke runs)."""


def sizes(quick: bool) -> dict:
    """The store's shape: issue 4's 10M tokens x 16,384 latents x ~32 firings, or 1M x 4,096 x 16."""
    if quick:
        return {"n_tokens": 1_000_000, "n_latents": 4096, "firings_per_token": 16}
    return {"n_tokens": 10_000_000, "n_latents": 16_384, "firings_per_token": 32}


def synthetic_store(quick: bool = False) -> Path:
    """The one benchmark store every ``bench_*`` module uses (built on first use, then reused)."""
    return make_synthetic_store(OUT / ("quick" if quick else "full"), **sizes(quick), seed=0)


def make_synthetic_store(path: str | Path, n_tokens: int = 10_000_000, n_latents: int = 16_384,
                         firings_per_token: float = 32, seed: int = 0, *, verbose: bool = True) -> Path:
    """The store at ``path`` (built when missing or made with other parameters); returns ``path``.

    Open it with ``tokrex.corpus.open_corpus(path)`` and ``tokrex.store.open_firings(corpus, SAE_ID)``.
    """
    from tokrex.corpus import open_corpus
    from tokrex.store import write_firings

    path = Path(path)
    params = {"n_tokens": int(n_tokens), "n_latents": int(n_latents), "firings_per_token": float(firings_per_token),
              "seed": int(seed), "version": 1}
    done = path / "synthetic.json"
    if done.is_file() and json.loads(done.read_text()) == params:
        return path
    shutil.rmtree(path, ignore_errors=True)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    if verbose:
        print(f"building a synthetic store: {n_tokens:,} tokens, {n_latents:,} latents, ~{firings_per_token} "
              f"firings per token -> {path}", flush=True)
    ids = _write_corpus(path, int(n_tokens), rng)
    corpus = open_corpus(path)
    groups = [g for g in (128, 1024, 4096) if g < n_latents] + [int(n_latents)]
    firings = write_firings(corpus, SAE_ID, firing_batches(ids, int(n_latents), firings_per_token, rng),
                            n_latents=int(n_latents), groups=groups)
    if verbose:
        print(f"  wrote {firings.n_firings:,} firing rows in {time.perf_counter() - t0:.0f} s "
              f"({firings.manifest['counts']['bytes_per_firing']:.3f} bytes per row)", flush=True)
    done.write_text(json.dumps(params))
    return path


def latent_probabilities(n_latents: int, firings_per_token: float, alpha: float = 0.8) -> np.ndarray:
    """Per-token firing probability of each latent: power law in the id, summing to firings_per_token."""
    p = 1.0 / np.arange(1, n_latents + 1) ** alpha
    p *= firings_per_token / p.sum()
    for _ in range(100):  # cap at 0.5, give the excess to the others
        if p.max() <= 0.5:
            break
        p = np.minimum(p, 0.5)
        free = p < 0.5
        p[free] *= (firings_per_token - 0.5 * (~free).sum()) / p[free].sum()
    return np.minimum(p, 0.5)


def firing_batches(ids: np.ndarray, n_latents: int, firings_per_token: float, rng: np.random.Generator,
                   chunk: int = CHUNK_TOKENS):
    """Token-sorted ``(token, latent, act)`` Arrow tables, ``chunk`` tokens at a time."""
    import pyarrow as pa

    p = latent_probabilities(n_latents, firings_per_token)
    for t0 in range(0, len(ids), chunk):
        t1 = min(t0 + chunk, len(ids))
        n = t1 - t0
        counts = rng.binomial(n, p)
        lat = np.repeat(np.arange(n_latents, dtype=np.int64), counts)
        tok = rng.integers(0, n, size=len(lat))
        the = np.flatnonzero((ids[t0:t1] == 0) & (rng.random(n) < 0.9))
        key = np.concatenate([tok * n_latents + lat, the * n_latents + PLANTED])
        key.sort()
        keep = np.empty(len(key), bool)
        keep[:1] = True
        np.not_equal(key[1:], key[:-1], out=keep[1:])
        key = key[keep]
        act = (rng.gamma(2.0, 0.5, len(key)) + 0.01).astype(np.float16)
        yield pa.table({"token": key // n_latents + t0, "latent": (key % n_latents).astype(np.int32), "act": act})


def _write_corpus(store: Path, n_tokens: int, rng: np.random.Generator) -> np.ndarray:
    """A corpus store in the documented layout (no tokenizer run): Zipf ids, ``the`` at 10%."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tokrex import atomic
    from tokrex.corpus.vocab import Vocab

    store.mkdir(parents=True)
    p = 1.0 / np.arange(1, VOCAB + 1) ** 1.05
    p[0] = 0
    p = 0.9 * p / p.sum()
    p[0] = 0.1
    ids = np.searchsorted(np.cumsum(p), rng.random(n_tokens) * np.cumsum(p)[-1]).astype(np.uint16)
    pq.write_table(pa.table({"id": ids}), store / "tokens.parquet", compression="zstd", row_group_size=1 << 20)
    n_docs = max(1, n_tokens // DOC_LEN)
    counts = np.full(n_docs, DOC_LEN, dtype=np.int64)
    counts[-1] += n_tokens - counts.sum()
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pq.write_table(pa.table({"doc": np.arange(n_docs), "start": starts, "n_tokens": counts,
                             "source": pa.array(["synthetic"] * n_docs), "index": np.arange(n_docs)}),
                   store / "docs.parquet", compression="zstd")
    words = ["the"] + [f"w{i}" for i in range(1, VOCAB)]
    vocab = Vocab(piece=["Ġ" + w for w in words], surface=[" " + w for w in words], core=words,
                  word_start=np.ones(VOCAB, dtype=bool), family="byte_level")
    pq.write_table(vocab.to_arrow(), store / "vocab.parquet")
    content = hashlib.sha256(ids.tobytes() + counts.tobytes()).hexdigest()
    atomic.write_json(store / "manifest.json", {
        "format": "tokrex-corpus", "version": 1,
        "tokenizer": {"name": "synthetic", "hash": "0" * 64, "vocab_size": VOCAB, "family": "byte_level"},
        "n_docs": n_docs, "n_tokens": n_tokens, "token_dtype": "uint16", "content_hash": content,
    })
    return ids
