"""The resumable build directory of a corpus store.

A build works in ``.<store>.building`` beside the store. Tokenized documents go there as
numbered parts (a tokens file and a docs file each, written atomically), and ``progress.json``
records how many parts, documents and tokens are done together with a fingerprint of the
build (inputs' paths, sizes and modification times, text field, tokenizer hash, token type).
An interrupted build resumes from the last complete part when run again with the same
fingerprint; any other staging directory is discarded. At the end the parts are merged into
``tokens.parquet`` and ``docs.parquet``, the manifest is written, and the directory is renamed
onto the store in one step.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from tokrex import atomic
from tokrex.corpus.store import DOCS, TOKENS, column_numpy

PROGRESS = "progress.json"
PARTS = "parts"


def staging_dir(store: Path) -> Path:
    return store.parent / f".{store.name}.building"


def _schemas(dtype: str) -> tuple[Any, Any]:
    import pyarrow as pa

    tokens = pa.schema([("id", getattr(pa, dtype)())])
    docs = pa.schema([("doc", pa.int64()), ("start", pa.int64()), ("n_tokens", pa.int64()), ("source", pa.string()), ("source_index", pa.int64())])
    return tokens, docs


class Staging:
    """Parts written so far and the bookkeeping that makes them resumable."""

    def __init__(self, root: Path, fingerprint: dict, progress: dict):
        self.root = root
        self.fingerprint = fingerprint
        self.n_parts = int(progress.get("n_parts", 0))
        self.n_docs = int(progress.get("n_docs", 0))
        self.n_tokens = int(progress.get("n_tokens", 0))
        self.dtype = str(fingerprint["token_dtype"])

    @classmethod
    def open(cls, store: Path, fingerprint: dict) -> "Staging":
        """Resume the staging directory of ``store`` if it was made for the same build, else start afresh."""
        root = staging_dir(store)
        try:
            progress = json.loads((root / PROGRESS).read_text(encoding="utf-8"))
            if progress.get("fingerprint") == fingerprint:
                staging = cls(root, fingerprint, progress)
                for part in (root / PARTS).glob("*.parquet"):  # written after the last recorded part
                    if not part.name[:6].isdigit() or int(part.name[:6]) >= staging.n_parts:
                        part.unlink()
                return staging
        except (OSError, ValueError, KeyError, TypeError):
            pass
        shutil.rmtree(root, ignore_errors=True)
        (root / PARTS).mkdir(parents=True)
        staging = cls(root, fingerprint, {})
        staging._save()
        return staging

    @property
    def resumed(self) -> bool:
        return self.n_parts > 0

    def _save(self) -> None:
        progress = {"fingerprint": self.fingerprint, "n_parts": self.n_parts, "n_docs": self.n_docs, "n_tokens": self.n_tokens}
        atomic.write_json(self.root / PROGRESS, progress)

    def _part(self, k: int, kind: str) -> Path:
        return self.root / PARTS / f"{k:06d}.{kind}.parquet"

    def write_part(self, ids: np.ndarray, counts: np.ndarray, sources: list[str], indexes: list[int]) -> None:
        """Append whole documents: their token ids back to back and one row each."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        tokens_schema, docs_schema = _schemas(self.dtype)
        starts = self.n_tokens + np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        docs = pa.table({
            "doc": pa.array(np.arange(self.n_docs, self.n_docs + len(counts), dtype=np.int64)),
            "start": pa.array(starts), "n_tokens": pa.array(counts.astype(np.int64)),
            "source": pa.array(sources, pa.string()), "source_index": pa.array(indexes, pa.int64()),
        }, schema=docs_schema)
        tokens = pa.table({"id": pa.array(ids)}, schema=tokens_schema)
        with atomic.atomic_path(self._part(self.n_parts, "tokens")) as tmp:
            pq.write_table(tokens, tmp, compression="zstd", use_dictionary=False)
        with atomic.atomic_path(self._part(self.n_parts, "docs")) as tmp:
            pq.write_table(docs, tmp, compression="zstd")
        self.n_parts += 1
        self.n_docs += len(counts)
        self.n_tokens += int(counts.sum())
        self._save()

    def merge(self, row_group: int) -> str:
        """Merge the parts into tokens.parquet (row groups of ``row_group`` tokens) and docs.parquet;
        returns the content hash (see docs/store.md)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        tokens_schema, docs_schema = _schemas(self.dtype)
        tokens_hash, counts_hash = hashlib.sha256(), hashlib.sha256()
        pending: list[np.ndarray] = []
        n_pending = 0
        with pq.ParquetWriter(self.root / TOKENS, tokens_schema, compression="zstd", use_dictionary=False) as tw, \
                pq.ParquetWriter(self.root / DOCS, docs_schema, compression="zstd") as dw:

            def flush(n: int) -> None:
                nonlocal pending, n_pending
                data = np.concatenate(pending) if len(pending) > 1 else pending[0]
                tw.write_table(pa.table({"id": pa.array(data[:n])}, schema=tokens_schema), row_group_size=n)
                rest = data[n:]
                pending, n_pending = ([rest] if len(rest) else []), len(rest)

            for k in range(self.n_parts):
                docs = pq.ParquetFile(self._part(k, "docs")).read()
                ids = column_numpy(pq.ParquetFile(self._part(k, "tokens")).read().column("id"), self.dtype)
                dw.write_table(docs)
                counts_hash.update(column_numpy(docs.column("n_tokens"), np.int64).astype("<i8").tobytes())
                tokens_hash.update(ids.astype("<u4").tobytes())
                pending.append(ids)
                n_pending += len(ids)
                while n_pending >= row_group:
                    flush(row_group)
            if n_pending:
                flush(n_pending)
            if self.n_tokens == 0:
                tw.write_table(pa.table({"id": pa.array([], getattr(pa, self.dtype)())}))
        return hashlib.sha256(tokens_hash.digest() + counts_hash.digest()).hexdigest()

    def finish(self, store: Path) -> None:
        """Drop the bookkeeping and rename the directory onto ``store`` (replacing an old store)."""
        shutil.rmtree(self.root / PARTS)
        (self.root / PROGRESS).unlink()
        if store.exists():
            old = store.parent / f".{store.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            os.replace(store, old)
            os.replace(self.root, store)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self.root, store)

    def discard(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
