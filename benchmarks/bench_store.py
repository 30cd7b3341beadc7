"""The firings store: bytes per firing row, index builds, reads, and encode throughput per device.

- Storage, on the synthetic store of ``synthetic.py`` (10M tokens x 16,384 latents x ~32 firings,
  ~320M rows; ``--quick``: 1M x 4,096 x 16): bytes per firing row in Parquet (target <= 3.6) with
  the per-column split, beside pyarrow's defaults (snappy) and beside latent ids in random order
  (an SAE not sorted by frequency) on one part.
- Derived indexes: token-major CSR build time and size (and the latent-major CSC when missing).
- Reads: every firing through pyarrow; a DuckDB group-by over the ``firings`` view.
- Encode throughput per device (CPU here, and CUDA when present): ``encode_activations`` with a
  16,384-latent TopK(k=32) SAE on d_in=768 synthetic activations (model forward excluded), beside
  the SAE encode alone and the bare matmul, with the peak memory growth while encoding.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TARGET_BYTES = 3.6


def storage(quick: bool) -> Path:
    import pyarrow.parquet as pq

    from synthetic import SAE_ID, synthetic_store
    from tokrex.corpus import open_corpus
    from tokrex.store import open_firings

    store = synthetic_store(quick)
    corpus = open_corpus(store)
    f = open_firings(corpus, SAE_ID)
    cols = {"token": 0, "latent": 0, "act": 0}
    for p in f.parts:
        md = pq.read_metadata(p)
        for rg in range(md.num_row_groups):
            for c in range(md.num_columns):
                col = md.row_group(rg).column(c)
                cols[col.path_in_schema] += col.total_compressed_size
    n = f.n_firings
    bpr = f.manifest["counts"]["bytes_per_firing"]
    split = ", ".join(f"{k} {v / n:.3f}" for k, v in cols.items())
    print(f"store: {f.n_tokens:,} tokens, {f.n_latents:,} latents, {n:,} firing rows ({n / f.n_tokens:.1f} per token), "
          f"{len(f.parts)} parts")
    print(f"parquet: {bpr:.3f} bytes per firing row (target <= {TARGET_BYTES}: "
          f"{'ok' if bpr <= TARGET_BYTES else 'OVER TARGET'}); per column: {split}; "
          f"{f.manifest['counts']['bytes'] / 2**20:,.0f} MiB in all")
    _alternatives(f)
    return store


def _alternatives(f) -> None:
    """One part rewritten with pyarrow's defaults, and with latent ids in random order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tokrex.store.schema import FIRINGS_SCHEMA, PART_WRITE_OPTIONS, ROW_GROUP_ROWS

    t = pq.read_table(f.parts[0])
    rows = t.num_rows
    with tempfile.TemporaryDirectory() as d:
        plain = Path(d) / "default.parquet"
        pq.write_table(t, plain)
        perm = np.random.default_rng(0).permutation(f.n_latents).astype(np.int32)
        shuffled = pa.table([t["token"], pa.array(perm[t["latent"].to_numpy()]), t["act"]], schema=FIRINGS_SCHEMA)
        other = Path(d) / "shuffled.parquet"
        pq.write_table(shuffled, other, row_group_size=ROW_GROUP_ROWS, **PART_WRITE_OPTIONS)
        ours = f.manifest["parts"][0]["bytes"] / rows
        print(f"  same part ({rows:,} rows): tokrex options {ours:.3f} B/row; pyarrow defaults (snappy) "
              f"{plain.stat().st_size / rows:.3f} B/row; latent ids in random order {other.stat().st_size / rows:.3f} B/row")


def indexes(store: Path) -> None:
    import shutil

    from synthetic import SAE_ID
    from tokrex.corpus import open_corpus
    from tokrex.store import open_firings

    f = open_firings(open_corpus(store), SAE_ID)
    d = f.layout.index_dir
    shutil.rmtree(d / "token", ignore_errors=True)
    t = time.perf_counter()
    f.token_index()
    csr_s = time.perf_counter() - t
    had_csc = (d / "latent" / "identity.json").is_file()
    t = time.perf_counter()
    f.latent_index()
    csc_s = time.perf_counter() - t
    size = {k: sum(p.stat().st_size for p in (d / k).glob("*.npy")) / 2**20 for k in ("token", "latent")}
    print(f"token index (CSR) built in {csr_s:.1f} s ({f.n_firings / csr_s / 1e6:.0f}M rows/s), {size['token']:,.0f} MiB; "
          f"latent index (CSC) {'opened (cached)' if had_csc else f'built in {csc_s:.1f} s'}, {size['latent']:,.0f} MiB")


def reads(store: Path) -> None:
    import pyarrow.parquet as pq

    from synthetic import SAE_ID
    from tokrex.corpus import open_corpus
    from tokrex.store import connect, open_firings

    corpus = open_corpus(store)
    f = open_firings(corpus, SAE_ID)
    t = time.perf_counter()
    n = sum(pq.read_table(p).num_rows for p in f.parts)
    s = time.perf_counter() - t
    print(f"read every firing with pyarrow: {s:.2f} s ({n / s / 1e6:.0f}M rows/s)")
    con = connect(corpus, f)
    q = "SELECT latent, count(*) AS n, max(act) AS mx FROM firings GROUP BY latent"
    con.execute(q).fetchall()
    t = time.perf_counter()
    con.execute(q).fetchall()
    print(f"duckdb over the firings view, {q!r}: {time.perf_counter() - t:.2f} s warm")
    q = "SELECT doc, count(*) FROM tokens WHERE id = 0 GROUP BY doc"
    t = time.perf_counter()
    con.execute(q).fetchall()
    print(f"duckdb over the tokens view (doc/pos derived), {q!r}: {time.perf_counter() - t:.2f} s")


class _MemCorpus:
    def __init__(self, path: Path, n_tokens: int):
        self.path, self.n_tokens, self.n_docs = Path(path), n_tokens, 1
        self.tokenizer_hash, self.content_hash = "0" * 64, "bench"
        self.manifest = {"content_hash": "bench"}


class _PeakRss:
    """Peak resident memory of this process while the block runs (sampled every 20 ms)."""

    def __enter__(self):
        self.base = self.peak = _rss()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._watch, daemon=True)
        self._t.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, _rss())


def _rss() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def encode_throughput(device: str, n_tokens: int, *, dtype: str, block: int | None = None) -> None:
    import torch

    from tokrex.sae.model import Sae, SaeArch
    from tokrex.store import encode_activations
    from tokrex.store.encode import _BlockEncoder, default_block

    d_in, n_lat, k = 768, 16_384, 32
    torch.manual_seed(0)
    sae = Sae(SaeArch(d_in, n_lat, "topk", k=k), device=device)
    with torch.no_grad():
        sae.W_enc.normal_(0, d_in**-0.5)
        sae.W_dec.normal_(0, n_lat**-0.5)
    pool = torch.randn(1 << 16, d_in).half()  # activations arrive in the cache dtype
    block = block or default_block(n_lat)

    def source(start: int):
        for s in range(start, n_tokens, len(pool)):
            yield s, pool[: min(len(pool), n_tokens - s)]

    settings = {"model": "synthetic", "layer": 0, "hook": "resid_post", "ctx": 128, "device": device, "dtype": dtype,
                "block_tokens": block, "part_rows": 8_000_000}
    enc = _BlockEncoder(sae, device, dtype)
    x = pool[:block]
    enc(x, 0)
    _sync(device)
    reps = max(3, min(50, n_tokens // block))
    t = time.perf_counter()
    for _ in range(reps):
        enc(x, 0)
    _sync(device)
    enc_tps = reps * block / (time.perf_counter() - t)
    xd, w = x.to(device, getattr(torch, dtype)), enc.sae.W_enc
    t = time.perf_counter()
    for _ in range(reps):
        xd @ w
    _sync(device)
    mm_s = (time.perf_counter() - t) / reps
    mm_tps, tflops = block / mm_s, 2 * block * d_in * n_lat / mm_s / 1e12
    with tempfile.TemporaryDirectory() as d, _PeakRss() as mem:
        t = time.perf_counter()
        f = encode_activations(_MemCorpus(d, n_tokens), sae, source, settings, progress=False, build_index=False)
        s = time.perf_counter() - t
        rows = f.n_firings
        t = time.perf_counter()
        f.token_index()
        index_s = time.perf_counter() - t
    print(f"encode on {device} ({dtype}, blocks of {block}): {n_tokens / s:,.0f} tokens/s end to end "
          f"({rows / s:,.0f} firing rows/s into Parquet, {n_tokens:,} tokens, peak RSS +{(mem.peak - mem.base) / 2**20:,.0f} MiB); "
          f"SAE encode + sparse extraction alone {enc_tps:,.0f} tokens/s; bare matmul {mm_tps:,.0f} tokens/s ({tflops * 1000:,.0f} GFLOP/s); "
          f"token index built after it in {index_s:.1f} s")


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main(quick: bool = False) -> None:
    sys.path.insert(0, str(HERE))
    from machine import describe

    print(describe())
    only_encode = os.environ.get("TOKREX_BENCH_ENCODE_ONLY") == "1"
    if not only_encode:
        store = storage(quick)
        indexes(store)
        reads(store)
    import torch

    encode_throughput("cpu", 8_192 if quick else 32_768, dtype="float32")
    if torch.cuda.is_available():
        n = 1 << 20 if quick else 1 << 22
        for dtype in ("bfloat16", "float32"):
            encode_throughput("cuda", n, dtype=dtype)
        encode_throughput("cuda", n, dtype="bfloat16", block=16_384)


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
