"""The firings store's one schema, its format version and where each file lives.

```
STORE/firings/sae=<sae_id>/part-000000.parquet   token int64, latent int32, act float16; sorted by token
STORE/latents/sae=<sae_id>/latents.parquet       one row per latent (see LATENTS_SCHEMA)
STORE/saes/<sae_id>/manifest.json                identity, settings, parts done, counts, status
STORE/saes/<sae_id>/stats-<n>.npz                per-latent accumulators after n parts (resume)
STORE/saes/<sae_id>/index/{token,latent}/        derived memory-mapped indexes, rebuildable
```
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

FORMAT = "tokrex-firings"
"""Value of ``format`` in every firings manifest and in each Parquet file's key-value metadata."""
VERSION = 1
"""Format version; a manifest with another version is refused with a clear error."""

FIRINGS_SCHEMA = pa.schema(
    [
        pa.field("token", pa.int64(), nullable=False),
        pa.field("latent", pa.int32(), nullable=False),
        pa.field("act", pa.float16(), nullable=False),
    ]
)
"""One row per (corpus token, latent) with activation > 0, sorted by (token, latent)."""

LATENTS_SCHEMA = pa.schema(
    [
        pa.field("latent", pa.int32(), nullable=False),
        pa.field("level", pa.int32(), nullable=False),
        pa.field("n_fires", pa.int64(), nullable=False),
        pa.field("freq", pa.float64(), nullable=False),
        pa.field("log10_freq", pa.float64()),
        pa.field("act_sum", pa.float64(), nullable=False),
        pa.field("act_sq_sum", pa.float64(), nullable=False),
        pa.field("act_mean", pa.float64()),
        pa.field("act_max", pa.float32(), nullable=False),
    ]
)
"""Per-latent statistics over the stored (float16) activations; nulls mark latents that never fire."""

ACT_MIN = float(np.finfo(np.float16).smallest_subnormal)
"""A positive activation below this is stored as this, so every stored row keeps act > 0."""
ACT_MAX = float(np.finfo(np.float16).max)
"""A larger activation is stored as this (float16's largest finite value)."""

PART_WRITE_OPTIONS = dict(
    compression="zstd",
    compression_level=3,
    use_dictionary=["latent"],
    column_encoding={"token": "DELTA_BINARY_PACKED", "act": "PLAIN"},
    write_statistics=["token"],
    data_page_size=1 << 20,
)
"""pyarrow.parquet.write_table options for firings parts (readable by DuckDB, Polars, Spark, Trino)."""

ROW_GROUP_ROWS = 1 << 20
"""Rows per Parquet row group inside a part: the unit of parallel and token-range-pruned reads."""

_SAE_ID = re.compile(r"^[0-9a-f]{8,64}$")


def check_sae_id(sae_id: str) -> str:
    """Return ``sae_id`` when it is a lowercase hex content hash (it becomes a directory name)."""
    if not isinstance(sae_id, str) or not _SAE_ID.match(sae_id):
        raise ValueError(f"an SAE id is a lowercase hex content hash, not {sae_id!r}")
    return sae_id


@dataclass(frozen=True)
class Layout:
    """Paths of one SAE's firings inside a corpus store."""

    root: Path
    """The corpus store directory."""
    sae_id: str
    """Content hash of the SAE (16 hex chars from ``tokrex.sae.load.sae_id``)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))
        check_sae_id(self.sae_id)

    @property
    def firings_dir(self) -> Path:
        return self.root / "firings" / f"sae={self.sae_id}"

    @property
    def latents_dir(self) -> Path:
        return self.root / "latents" / f"sae={self.sae_id}"

    @property
    def latents_path(self) -> Path:
        return self.latents_dir / "latents.parquet"

    @property
    def sae_dir(self) -> Path:
        return self.root / "saes" / self.sae_id

    @property
    def manifest_path(self) -> Path:
        return self.sae_dir / "manifest.json"

    @property
    def index_dir(self) -> Path:
        return self.sae_dir / "index"

    def part_path(self, number: int) -> Path:
        return self.firings_dir / part_name(number)

    def stats_path(self, n_parts: int) -> Path:
        return self.sae_dir / f"stats-{n_parts:06d}.npz"


def part_name(number: int) -> str:
    return f"part-{number:06d}.parquet"


def latent_dtype(n_latents: int) -> np.dtype:
    """The narrowest integer dtype the derived indexes use for latent ids."""
    return np.dtype(np.uint16) if n_latents <= 1 << 16 else np.dtype(np.int32)


def token_dtype(n_tokens: int) -> np.dtype:
    """The narrowest integer dtype the derived indexes use for token indices."""
    return np.dtype(np.int32) if n_tokens < 1 << 31 else np.dtype(np.int64)
