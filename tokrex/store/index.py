"""Derived local indexes over one SAE's firings: token-major (CSR) and latent-major (CSC).

They live in ``STORE/saes/<sae_id>/index/{token,latent}/`` as plain ``.npy`` files opened
memory-mapped, plus ``identity.json`` naming the Parquet identity they were built from.
They are built from the Parquet parts (the source of truth) on first use, into a temporary
directory renamed into place, and rebuilt whenever missing, unreadable or stale.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tokrex import atomic
from tokrex.errors import StoreError
from tokrex.store.schema import latent_dtype, token_dtype

if TYPE_CHECKING:
    from tokrex.store.reader import Firings

INDEX_VERSION = 1
_CHUNK_ROWS = 1 << 24


@dataclass(frozen=True)
class TokenIndex:
    """Token-major CSR: the rows of token t are ``[offsets[t], offsets[t+1])``, latents ascending."""

    offsets: np.ndarray
    """int64 [n_tokens + 1]."""
    latent: np.ndarray
    """uint16 (n_latents <= 65536) or int32 [n_firings]."""
    act: np.ndarray
    """float16 [n_firings]."""


@dataclass(frozen=True)
class LatentIndex:
    """Latent-major CSC: the rows of latent l are ``[offsets[l], offsets[l+1])``, tokens ascending."""

    offsets: np.ndarray
    """int64 [n_latents + 1]."""
    token: np.ndarray
    """int32 (n_tokens < 2**31) or int64 [n_firings]."""
    act: np.ndarray
    """float16 [n_firings]."""


def token_index(firings: "Firings", *, progress: bool = False) -> TokenIndex:
    """Open the token-major index, building it from the Parquet parts when missing or stale."""
    d = firings.layout.index_dir / "token"
    names = ("offsets", "latent", "act")
    arrays = _open(d, firings, names)
    if arrays is None:
        with atomic.atomic_path(d) as tmp:
            tmp.mkdir(parents=True)
            _build_token(firings, tmp, progress)
            _write_identity(tmp, firings)
        arrays = _open(d, firings, names)
        if arrays is None:
            raise StoreError(f"The token index in {d} could not be opened after building it; check the disk.")
    return TokenIndex(*arrays)


def latent_index(firings: "Firings", *, progress: bool = False) -> LatentIndex:
    """Open the latent-major index, building it (from the token index) when missing or stale."""
    d = firings.layout.index_dir / "latent"
    names = ("offsets", "token", "act")
    arrays = _open(d, firings, names)
    if arrays is None:
        csr = firings.token_index(progress=progress)
        with atomic.atomic_path(d) as tmp:
            tmp.mkdir(parents=True)
            _build_latent(firings, csr, tmp, progress)
            _write_identity(tmp, firings)
        arrays = _open(d, firings, names)
        if arrays is None:
            raise StoreError(f"The latent index in {d} could not be opened after building it; check the disk.")
    return LatentIndex(*arrays)


def _open(d: Path, firings: "Firings", names: tuple[str, ...]) -> list[np.ndarray] | None:
    """The memory-mapped arrays when ``d`` holds an index of this exact Parquet identity."""
    try:
        ident = json.loads((d / "identity.json").read_text())
        if ident != _identity(firings):
            return None
        arrays = [np.load(d / f"{n}.npy", mmap_mode="r") for n in names]
    except (OSError, ValueError):
        return None
    n_rows = firings.n_firings
    if len(arrays[0]) < 1 or int(arrays[0][-1]) != n_rows or any(len(a) != n_rows for a in arrays[1:]):
        return None
    return arrays


def _identity(firings: "Firings") -> dict:
    return {"index_version": INDEX_VERSION, "firings": firings.identity}


def _write_identity(d: Path, firings: "Firings") -> None:
    (d / "identity.json").write_text(json.dumps(_identity(firings)))


def _alloc(d: Path, name: str, dtype: np.dtype, n: int) -> np.ndarray:
    return np.lib.format.open_memmap(d / f"{name}.npy", mode="w+", dtype=dtype, shape=(n,))


def _bar(description: str, total: int, progress: bool, unit: str):
    from tokrex.progress import progress_bar

    return progress_bar(description, total, unit=unit, enabled=progress)


def _build_token(firings: "Firings", d: Path, progress: bool) -> None:
    import pyarrow.parquet as pq

    n_tok, n_rows = firings.n_tokens, firings.n_firings
    offsets = _alloc(d, "offsets", np.dtype(np.int64), n_tok + 1)
    latent = _alloc(d, "latent", latent_dtype(firings.n_latents), n_rows)
    act = _alloc(d, "act", np.dtype(np.float16), n_rows)
    offsets[0] = 0
    pos = 0
    with _bar("Indexing firings by token", n_tok, progress, "tokens") as advance:
        for part, path in zip(firings.manifest["parts"], firings.parts):
            first, end = part["first_token"], part["end_token"]
            f = pq.ParquetFile(path)
            counts = np.zeros(end - first, np.int64)
            for batch in f.iter_batches(batch_size=1 << 20, columns=["token", "latent", "act"]):
                tok = batch.column(0).to_numpy()
                n = len(tok)
                if n and (tok[0] < first or tok[-1] >= end):
                    raise StoreError(f"Firings part {path} holds tokens outside its range; re-encode with --overwrite.")
                counts += np.bincount(tok - first, minlength=end - first)
                latent[pos : pos + n] = batch.column(1).to_numpy()
                act[pos : pos + n] = batch.column(2).to_numpy()
                pos += n
            if pos - int(offsets[first]) != part["rows"]:
                raise StoreError(f"Firings part {path} does not hold the rows its manifest lists; re-encode with --overwrite.")
            np.cumsum(counts, out=offsets[first + 1 : end + 1])
            offsets[first + 1 : end + 1] += offsets[first]
            advance(end - first)
    if pos != n_rows:
        raise StoreError(f"The firings of SAE {firings.sae_id} hold {pos} rows, the manifest says {n_rows}.")
    for a in (offsets, latent, act):
        a.flush()


def _build_latent(firings: "Firings", csr: TokenIndex, d: Path, progress: bool) -> None:
    n_lat, n_rows = firings.n_latents, firings.n_firings
    tdt = token_dtype(firings.n_tokens)
    counts = np.zeros(n_lat, np.int64)
    for a in range(0, n_rows, _CHUNK_ROWS):
        counts += np.bincount(csr.latent[a : a + _CHUNK_ROWS], minlength=n_lat)
    offsets = _alloc(d, "offsets", np.dtype(np.int64), n_lat + 1)
    offsets[0] = 0
    np.cumsum(counts, out=offsets[1:])
    token = _alloc(d, "token", tdt, n_rows)
    act = _alloc(d, "act", np.dtype(np.float16), n_rows)
    cursor = np.array(offsets[:-1])
    tok_offsets = np.asarray(csr.offsets)
    t0 = 0
    with _bar("Indexing firings by latent", n_rows, progress, "rows") as advance:
        while t0 < firings.n_tokens:
            # whole tokens, about _CHUNK_ROWS rows
            t1 = int(np.searchsorted(tok_offsets, tok_offsets[t0] + _CHUNK_ROWS, side="right")) - 1
            t1 = min(max(t1, t0 + 1), firings.n_tokens)
            a, b = int(tok_offsets[t0]), int(tok_offsets[t1])
            lat = np.asarray(csr.latent[a:b])
            order = np.argsort(lat, kind="stable")  # radix sort for uint16: tokens stay ascending per latent
            chunk_counts = np.bincount(lat, minlength=n_lat)
            # row i of the sorted chunk goes to cursor[l] + (i - first row of l in the chunk)
            base = cursor - (np.cumsum(chunk_counts) - chunk_counts)
            dest = base[lat[order]]
            dest += np.arange(b - a, dtype=np.int64)
            owner = np.repeat(np.arange(t0, t1, dtype=tdt), np.diff(tok_offsets[t0 : t1 + 1]))
            token[dest] = owner[order]
            act[dest] = np.asarray(csr.act[a:b])[order]
            cursor += chunk_counts
            advance(b - a)
            t0 = t1
    for x in (offsets, token, act):
        x.flush()
