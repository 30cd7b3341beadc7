"""Reading one SAE's firings: checked against the corpus, with fast token- and latent-major access.

The Parquet parts are the source of truth. ``token_index()`` and ``latent_index()`` are
derived memory-mapped arrays built from them once (see ``tokrex.store.index``).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from tokrex.errors import QueryError, StoreError
from tokrex.store import manifest as mf
from tokrex.store.schema import FIRINGS_SCHEMA, Layout, check_sae_id


def sae_key(sae: Any) -> str:
    """The content id of ``sae``: a ``Sae`` is hashed with ``tokrex.sae.load.sae_id``; a string is checked."""
    if isinstance(sae, str):
        try:
            return check_sae_id(sae)
        except ValueError as exc:
            raise StoreError(f"{exc}.") from None
    # hashing the weights takes a while for wide SAEs: remember the id while the tensors are unchanged
    try:
        key = (repr(sae.arch), *((t.data_ptr(), t._version) for t in (sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec, sae.threshold)))
    except RuntimeError:  # inference tensors keep no version counter: no caching
        key = None
    cached = getattr(sae, "_tokrex_sae_id", None)
    if key is not None and cached is not None and cached[0] == key:
        return cached[1]
    from tokrex.sae.load import sae_id

    value = sae_id(sae)
    if key is not None:
        object.__setattr__(sae, "_tokrex_sae_id", (key, value))
    return value


class Firings:
    """One SAE's complete firings in a corpus store.

    Contract: ``n_tokens``/``n_latents`` are the corpus and SAE sizes; every array this class
    returns is indexed by global token index (0..n_tokens-1) and latent id (0..n_latents-1);
    rows hold only activations > 0, stored as float16.
    """

    def __init__(self, layout: Layout, manifest: dict):
        self.layout = layout
        """Paths of this SAE's files inside the store."""
        self.manifest = manifest
        """The parsed ``saes/<sae_id>/manifest.json``."""
        self.progress = False
        """Draw progress bars (stderr) when an index has to be built and no ``progress`` is passed."""
        self._token_index = None
        self._latent_index = None

    def __repr__(self) -> str:
        return f"Firings(sae={self.sae_id}, n_tokens={self.n_tokens}, n_latents={self.n_latents}, n_firings={self.n_firings})"

    @property
    def sae_id(self) -> str:
        return self.layout.sae_id

    @property
    def root(self) -> Path:
        """The corpus store directory."""
        return self.layout.root

    @property
    def n_tokens(self) -> int:
        return int(self.manifest["corpus"]["n_tokens"])

    @property
    def n_latents(self) -> int:
        return int(self.manifest["sae"]["n_latents"])

    @property
    def n_firings(self) -> int:
        """Number of firing rows (activation > 0) over the whole corpus."""
        return int(self.manifest["counts"]["n_firings"])

    @property
    def groups(self) -> list[int]:
        """Cumulative ends of the Matryoshka groups (``[n_latents]`` for a plain SAE)."""
        return [int(g) for g in self.manifest["sae"]["groups"]]

    @property
    def identity(self) -> str:
        """A hash of the Parquet parts' identity; derived indexes are rebuilt when it changes."""
        return mf.identity_hash(self.manifest)

    @property
    def parts(self) -> list[Path]:
        """The Parquet part files in token order."""
        return [self.layout.firings_dir / p["name"] for p in self.manifest["parts"]]

    def level(self, latent: int | np.ndarray) -> int | np.ndarray:
        """Matryoshka level (0-based group index) of latent ids."""
        out = np.searchsorted(np.asarray(self.groups), latent, side="right")
        return int(out) if np.ndim(out) == 0 else out

    @cached_property
    def _latents(self) -> pa.Table:
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(self.layout.latents_path).read()  # read_table would import pyarrow.dataset (~0.1 s)
        except (OSError, pa.ArrowException) as exc:
            raise StoreError(
                f"The latent table {self.layout.latents_path} is missing or corrupt ({exc}); "
                f"re-encode with `tokrex encode --overwrite`."
            ) from None

    def latents(self) -> pa.Table:
        """Per-latent table, one row per latent in id order: latent, level, n_fires, freq, log10_freq,
        act_sum, act_sq_sum, act_mean, act_max (see ``LATENTS_SCHEMA``)."""
        return self._latents

    def dataset(self):
        """A ``pyarrow.dataset.Dataset`` over the parts (columns token, latent, act)."""
        import pyarrow.dataset as ds

        return ds.dataset([str(p) for p in self.parts], schema=FIRINGS_SCHEMA, format="parquet")

    def read(self) -> pa.Table:
        """All firing rows (token, latent, act), sorted by (token, latent). For small stores and tests."""
        import pyarrow.parquet as pq

        tables = [pq.read_table(p).cast(FIRINGS_SCHEMA) for p in self.parts]
        return pa.concat_tables(tables) if tables else FIRINGS_SCHEMA.empty_table()

    def token_index(self, *, progress: bool | None = None):
        """Token-major CSR (``TokenIndex``): ``offsets`` int64 [n_tokens+1]; token t's rows are
        ``latent[offsets[t]:offsets[t+1]]`` (uint16 when n_latents <= 65536, else int32; ascending)
        and ``act`` (float16). Memory-mapped, read-only; built from the Parquet on first use."""
        if self._token_index is None:
            from tokrex.store.index import token_index

            self._token_index = token_index(self, progress=self.progress if progress is None else progress)
        return self._token_index

    def latent_index(self, *, progress: bool | None = None):
        """Latent-major CSC (``LatentIndex``): ``offsets`` int64 [n_latents+1]; latent l's rows are
        ``token[offsets[l]:offsets[l+1]]`` (int32 when n_tokens < 2**31, else int64; ascending) and
        ``act`` (float16). Memory-mapped, read-only; built on first use."""
        if self._latent_index is None:
            from tokrex.store.index import latent_index

            self._latent_index = latent_index(self, progress=self.progress if progress is None else progress)
        return self._latent_index

    def rows_for_tokens(self, tokens: Any) -> pa.Table:
        """Firing rows ``(token int64, latent int32, act float16)`` of the given global token indices,
        sorted by (token, latent); duplicates in ``tokens`` are read once."""
        t = np.unique(np.asarray(tokens, dtype=np.int64))
        if len(t) and (t[0] < 0 or t[-1] >= self.n_tokens):
            raise QueryError(f"Token indices must lie in 0..{self.n_tokens - 1}.")
        idx = self.token_index()
        starts, ends = idx.offsets[t], idx.offsets[t + 1]
        lengths = ends - starts
        rows = _ranges(starts, lengths)
        return pa.table(
            [pa.array(np.repeat(t, lengths)), pa.array(idx.latent[rows].astype(np.int32)), pa.array(idx.act[rows])],
            schema=FIRINGS_SCHEMA,
        )

    def rows_for_latent(self, latent: int) -> pa.Table:
        """Firing rows ``(token int64, act float16)`` of one latent, sorted by token."""
        latent = self.check_latent(latent)
        idx = self.latent_index()
        a, b = int(idx.offsets[latent]), int(idx.offsets[latent + 1])
        return pa.table({"token": pa.array(idx.token[a:b].astype(np.int64)), "act": pa.array(np.asarray(idx.act[a:b]))})

    def check_latent(self, latent: Any) -> int:
        """``latent`` as an int when it is a valid id of this SAE; QueryError otherwise."""
        try:
            value = int(latent)
        except (TypeError, ValueError):
            value = None
        if value is None or value != latent or not 0 <= value < self.n_latents:
            raise QueryError(f"Latent {latent} does not exist: this SAE has latents 0..{self.n_latents - 1}.")
        return value


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + n)`` for each (s, n), vectorized."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    keep = lengths > 0
    starts, lengths = starts[keep], lengths[keep]
    ends = np.cumsum(lengths)
    steps = np.ones(total, np.int64)
    steps[0] = starts[0]
    steps[ends[:-1]] = starts[1:] - (starts[:-1] + lengths[:-1]) + 1
    return np.cumsum(steps)


def open_firings(corpus: Any, sae: Any) -> Firings:
    """The complete firings of ``sae`` (a ``Sae`` or its id) in ``corpus``'s store.

    Raises StoreError with one sentence when they are missing, incomplete, from another corpus
    or SAE, or when a part changed on disk.
    """
    sid = sae_key(sae)
    layout = Layout(Path(corpus.path), sid)
    manifest = mf.read_manifest(layout)
    if manifest is None:
        raise StoreError(
            f"No firings for SAE {sid} in {corpus.path}; encode them with "
            f"`tokrex encode --sae CKPT --store {corpus.path}`."
        )
    mf.check_identity(manifest, layout, mf.corpus_identity(corpus))
    if manifest.get("status") != "complete":
        raise StoreError(
            f"The firings of SAE {sid} are incomplete ({manifest.get('next_token', 0)} of "
            f"{manifest['corpus']['n_tokens']} tokens); run `tokrex encode` again to resume."
        )
    mf.check_parts(manifest, layout)
    if not isinstance(sae, str):
        if int(sae.arch.n_latents) != int(manifest["sae"]["n_latents"]):
            raise StoreError(f"The firings manifest of SAE {sid} records another width; re-encode with `tokrex encode --overwrite`.")
        mf.check_sae_record(manifest, layout, sae)
    return Firings(layout, manifest)
