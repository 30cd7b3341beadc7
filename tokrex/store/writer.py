"""Writing firings: bounded-size Parquet parts, each atomic, with a manifest that makes runs resumable.

Rows arrive in token-aligned blocks (every token of a block, in token order). A part is
cut only between blocks, so the cut points depend on nothing but the blocks since the
previous part: a run resumed from the manifest's ``next_token`` writes the same parts as
one that never stopped.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tokrex import atomic
from tokrex.errors import StoreError
from tokrex.store import manifest as mf
from tokrex.store.schema import (
    ACT_MAX, ACT_MIN, FIRINGS_SCHEMA, FORMAT, LATENTS_SCHEMA, PART_WRITE_OPTIONS, ROW_GROUP_ROWS, VERSION, Layout,
    part_name,
)


class LatentStats:
    """Per-latent accumulators over the stored activations: count, sum, sum of squares, max."""

    def __init__(self, n_latents: int):
        self.n_fires = np.zeros(n_latents, np.int64)
        self.act_sum = np.zeros(n_latents, np.float64)
        self.act_sq_sum = np.zeros(n_latents, np.float64)
        self.act_max = np.zeros(n_latents, np.float32)

    def add(self, latent: np.ndarray, act: np.ndarray) -> None:
        n = len(self.n_fires)
        a = act.astype(np.float64)
        self.n_fires += np.bincount(latent, minlength=n)
        self.act_sum += np.bincount(latent, weights=a, minlength=n)
        self.act_sq_sum += np.bincount(latent, weights=a * a, minlength=n)
        np.maximum.at(self.act_max, latent, act.astype(np.float32))

    def merge(self, other: "LatentStats") -> None:
        """Add another set of accumulators (of later rows) into this one."""
        self.n_fires += other.n_fires
        self.act_sum += other.act_sum
        self.act_sq_sum += other.act_sq_sum
        np.maximum(self.act_max, other.act_max, out=self.act_max)

    def save(self, path: Path) -> None:
        with atomic.atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, n_fires=self.n_fires, act_sum=self.act_sum, act_sq_sum=self.act_sq_sum, act_max=self.act_max)

    @classmethod
    def load(cls, path: Path, n_latents: int) -> "LatentStats":
        stats = cls(n_latents)
        try:
            with np.load(path) as z:
                for name in ("n_fires", "act_sum", "act_sq_sum", "act_max"):
                    getattr(stats, name)[:] = z[name]
        except (OSError, ValueError, KeyError) as exc:
            raise StoreError(f"Latent statistics {path} are unreadable ({exc}); re-encode with `tokrex encode --overwrite`.")
        return stats

    def table(self, groups: list[int], n_tokens: int) -> pa.Table:
        """The per-latent table (``LATENTS_SCHEMA``)."""
        n = len(self.n_fires)
        fires = self.n_fires
        live = fires > 0
        freq = fires / max(n_tokens, 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            log10 = np.log10(freq)
            mean = self.act_sum / fires
        level = np.searchsorted(np.asarray(groups), np.arange(n), side="right").astype(np.int32)
        cols = {
            "latent": np.arange(n, dtype=np.int32),
            "level": level,
            "n_fires": fires,
            "freq": freq,
            "log10_freq": pa.array(log10, mask=~live),
            "act_sum": self.act_sum,
            "act_sq_sum": self.act_sq_sum,
            "act_mean": pa.array(mean, mask=~live),
            "act_max": self.act_max,
        }
        return pa.table(cols, schema=LATENTS_SCHEMA)


def to_stored_act(act: np.ndarray) -> np.ndarray:
    """Positive activations as stored: float16, clamped to [ACT_MIN, ACT_MAX] so none rounds to 0 or inf."""
    return np.clip(np.asarray(act, np.float32), ACT_MIN, ACT_MAX).astype(np.float16)


class PartWriter:
    """Appends token-aligned blocks of firings to one SAE's directory, cutting bounded parts.

    Parts are compressed on background threads (``workers`` at a time) while encoding goes on;
    they are committed to the manifest strictly in order, so the manifest only ever lists a
    gap-free prefix of parts. Call ``finish()`` or ``close()`` to wait for the writes.
    """

    def __init__(self, layout: Layout, manifest: dict, *, part_rows: int, workers: int | None = None):
        if part_rows < 1:
            raise ValueError("part_rows must be >= 1")
        self.layout = layout
        self.manifest = manifest
        self.part_rows = part_rows
        self.n_latents = manifest["sae"]["n_latents"]
        self.next_token = manifest["next_token"]
        self._buf: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._buf_rows = 0
        self._buf_first = self.next_token
        self._next_part = len(manifest["parts"])
        self._workers = workers or max(1, min(4, (os.cpu_count() or 2) // 2))
        self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="tokrex-parts")
        self._inflight: deque[Future] = deque()
        stats_name = manifest.get("stats")
        self.stats = (
            LatentStats.load(layout.sae_dir / stats_name, self.n_latents) if stats_name else LatentStats(self.n_latents)
        )
        layout.firings_dir.mkdir(parents=True, exist_ok=True)

    def add_block(self, end_token: int, token: np.ndarray, latent: np.ndarray, act: np.ndarray) -> None:
        """Append the firings of tokens ``[previous end, end_token)``: token-sorted, act > 0, float16."""
        if self._buf_rows and self._buf_rows + len(token) > self.part_rows:
            self._flush()
        self._buf.append((token, latent, act))
        self._buf_rows += len(token)
        self.next_token = end_token

    def finish(self, n_tokens: int) -> None:
        """Write what is buffered (an empty part when the store has none), then wait for all writes."""
        if self.next_token != n_tokens:
            raise StoreError(f"Encoding stopped at token {self.next_token} of {n_tokens}; run it again to resume.")
        if self.next_token > self._buf_first or self._next_part == 0:
            self._flush()
        self.close()

    def close(self) -> None:
        """Commit the parts being written, in order (so the manifest is current), and stop the threads."""
        try:
            while self._inflight:
                self._commit(self._inflight[0].result())
                self._inflight.popleft()
        finally:
            for pending in self._inflight:  # after a failure: later parts are never committed
                pending.cancel()
            self._inflight.clear()
            self._pool.shutdown(wait=True)

    def _flush(self) -> None:
        if self._buf:
            cols = [np.concatenate(c) for c in zip(*self._buf)]
        else:
            cols = [np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float16)]
        first, end = self._buf_first, self.next_token
        self._buf, self._buf_rows, self._buf_first = [], 0, end
        while len(self._inflight) >= self._workers:
            self._commit(self._inflight[0].result())
            self._inflight.popleft()
        self._inflight.append(self._pool.submit(self._write_part, self._next_part, first, end, *cols))
        self._next_part += 1

    def _write_part(self, number: int, first: int, end: int, token: np.ndarray, latent: np.ndarray,
                    act: np.ndarray) -> dict:
        """Write one part file atomically; return its manifest entry and its per-latent statistics."""
        meta = {
            "tokrex.format": FORMAT,
            "tokrex.version": str(VERSION),
            "tokrex.sae_id": self.layout.sae_id,
            "tokrex.corpus_content_hash": str(self.manifest["corpus"].get("content_hash")),
            "tokrex.first_token": str(first),
            "tokrex.end_token": str(end),
        }
        table = pa.table(
            [pa.array(token, pa.int64()), pa.array(latent, pa.int32()), pa.array(act, pa.float16())],
            schema=FIRINGS_SCHEMA.with_metadata(meta),
        )
        with atomic.atomic_path(self.layout.part_path(number)) as tmp:
            pq.write_table(table, tmp, row_group_size=ROW_GROUP_ROWS, **PART_WRITE_OPTIONS)
            digest = _digest(tmp)
            size = tmp.stat().st_size
        stats = LatentStats(self.n_latents)
        stats.add(latent, act)
        entry = {"name": part_name(number), "first_token": first, "end_token": end, "rows": len(token),
                 "bytes": size, "digest": digest}
        return {"entry": entry, "stats": stats}

    def _commit(self, done: dict) -> None:
        """Add a written part to the statistics and the manifest (in part order)."""
        entry, m = done["entry"], self.manifest
        if entry["name"] != part_name(len(m["parts"])):
            raise StoreError(f"Firings part {entry['name']} finished out of order; run the encoding again.")
        self.stats.merge(done["stats"])
        stats_path = self.layout.stats_path(len(m["parts"]) + 1)
        self.stats.save(stats_path)
        m["parts"].append(entry)
        m["next_token"] = entry["end_token"]
        old_stats, m["stats"] = m.get("stats"), stats_path.name
        counts = m["counts"]
        counts["n_firings"] += entry["rows"]
        counts["bytes"] += entry["bytes"]
        counts["bytes_per_firing"] = counts["bytes"] / counts["n_firings"] if counts["n_firings"] else None
        mf.write_manifest(self.layout, m)
        if old_stats:
            (self.layout.sae_dir / old_stats).unlink(missing_ok=True)


def _digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def complete(layout: Layout, manifest: dict, stats: LatentStats) -> None:
    """Write the per-latent table, then mark the manifest complete (the order makes it crash-safe)."""
    table = stats.table(manifest["sae"]["groups"], manifest["corpus"]["n_tokens"])
    with atomic.atomic_path(layout.latents_path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    manifest["status"] = "complete"
    mf.write_manifest(layout, manifest)


def remove(layout: Layout) -> None:
    """Delete one SAE's firings, latent table, manifest and derived indexes."""
    for d in (layout.firings_dir, layout.latents_dir, layout.sae_dir):
        shutil.rmtree(d, ignore_errors=True)


def write_firings(
    corpus: Any,
    sae: Any,
    rows: pa.Table | Iterable[pa.Table | pa.RecordBatch],
    *,
    n_latents: int | None = None,
    groups: list[int] | None = None,
    part_rows: int = 8_000_000,
    settings: dict | None = None,
    overwrite: bool = False,
):
    """Store firings computed elsewhere (tests, synthetic benchmarks, imports) as a complete encoding.

    ``sae`` is a ``Sae`` (its id, width and groups are used) or an SAE id string (then pass
    ``n_latents`` and optionally ``groups``). ``rows`` holds ``token, latent, act`` sorted by
    token (a table or an iterable of batches, streamed); acts must be > 0. Tokens and latents are
    range-checked. ``settings`` may record model/layer/hook/ctx. Returns the ``Firings``.
    """
    from tokrex.store.reader import Firings, sae_key

    sid = sae_key(sae)
    if isinstance(sae, str):
        if n_latents is None:
            raise ValueError("write_firings with an SAE id needs n_latents")
        groups = list(groups or [n_latents])
        ident = {"sae_id": sid, "source": None, "format": None, "model": None, "layer": None, "tokenizer_hash": None,
                 "activation": None, "d_in": None, "n_latents": int(n_latents), "k": None, "groups": groups,
                 "dtype": None}
    else:
        ident = mf.sae_identity(sae, sid)
    layout = Layout(Path(corpus.path), sid)
    if mf.read_manifest(layout) is not None:
        if not overwrite:
            raise StoreError(f"Firings for SAE {sid} already exist in {corpus.path}; pass overwrite=True to replace them.")
    remove(layout)
    n_tok = int(corpus.n_tokens)
    cfg = {"hook": None, "dtype": "float16", "block_tokens": None, **(settings or {}), "part_rows": part_rows}
    manifest = mf.new_manifest(ident, mf.corpus_identity(corpus), cfg)
    writer = PartWriter(layout, manifest, part_rows=part_rows)
    try:
        cap = max(1, part_rows // 8)
        for block in _blocks(rows, n_tok, ident["n_latents"]):
            for token, latent, act in _split(*block, cap):
                writer.add_block(int(token[-1]) + 1, token, latent, act)
        writer.next_token = n_tok
        writer.finish(n_tok)
    finally:
        writer.close()
    complete(layout, manifest, writer.stats)
    return Firings(layout, manifest)


def _blocks(rows: Any, n_tokens: int, n_latents: int):
    """Validated (token, latent, act) numpy blocks, each holding whole tokens sorted by (token, latent)."""
    batches = rows.to_batches() if isinstance(rows, pa.Table) else rows
    unsorted = StoreError("Firings rows must be sorted by token (all rows of a token together).")
    carry: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    last = -1
    for b in batches:
        if b.num_rows == 0:
            continue
        token = np.asarray(b.column("token").to_numpy(zero_copy_only=False), np.int64)
        latent = np.asarray(b.column("latent").to_numpy(zero_copy_only=False), np.int64)
        act = np.asarray(b.column("act").to_numpy(zero_copy_only=False))
        if token[0] < last or np.any(np.diff(token) < 0):
            raise unsorted
        if token[0] < 0 or token[-1] >= n_tokens:
            raise StoreError(f"Firings rows name tokens outside the corpus (0..{n_tokens - 1}).")
        if latent.min() < 0 or latent.max() >= n_latents:
            raise StoreError(f"Firings rows name latents outside 0..{n_latents - 1}.")
        if not np.all(act > 0):
            raise StoreError("Firings rows must have act > 0 (only firing latents are stored).")
        last = int(token[-1])
        act = to_stored_act(act)
        if carry is not None:
            token, latent, act = (np.concatenate([c, x]) for c, x in zip(carry, (token, latent, act)))
        # keep the last token's rows back: the next batch may continue it
        cut = int(np.searchsorted(token, token[-1], side="left"))
        if cut:
            yield _sorted_block(token[:cut], latent[:cut], act[:cut], n_latents)
        carry = (token[cut:], latent[cut:], act[cut:])
    if carry is not None:
        yield _sorted_block(*carry, n_latents)


def _split(token: np.ndarray, latent: np.ndarray, act: np.ndarray, cap: int):
    """Cut a block into pieces of about ``cap`` rows, never splitting a token."""
    start = 0
    while start < len(token):
        end = min(start + cap, len(token))
        if end < len(token):
            end = int(np.searchsorted(token, token[end], side="left"))
            if end <= start:
                end = int(np.searchsorted(token, token[start], side="right"))
        yield token[start:end], latent[start:end], act[start:end]
        start = end


def _sorted_block(token: np.ndarray, latent: np.ndarray, act: np.ndarray, n_latents: int):
    key = token * n_latents + latent
    if np.any(np.diff(key) <= 0):
        order = np.argsort(key, kind="stable")
        token, latent, act, key = token[order], latent[order], act[order], key[order]
        if np.any(np.diff(key) == 0):
            raise StoreError("Firings rows hold the same (token, latent) twice.")
    return token, latent.astype(np.int32), act
