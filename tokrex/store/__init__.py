"""The firings store: sparse SAE latent firings in plain Parquet, per-latent statistics,
derived local indexes for fast queries, and DuckDB views over the whole store.

``encode``/``ensure_firings`` write them, ``open_firings`` reads them, ``connect`` opens
DuckDB on them. Importing this package loads neither torch nor duckdb.
"""

from tokrex.store.encode import EncodeConfig, encode, encode_activations, ensure_firings
from tokrex.store.index import LatentIndex, TokenIndex
from tokrex.store.reader import Firings, open_firings, sae_key
from tokrex.store.schema import FIRINGS_SCHEMA, FORMAT, LATENTS_SCHEMA, VERSION, Layout
from tokrex.store.views import connect
from tokrex.store.writer import write_firings

__all__ = [
    "EncodeConfig", "FIRINGS_SCHEMA", "FORMAT", "Firings", "LATENTS_SCHEMA", "LatentIndex", "Layout",
    "TokenIndex", "VERSION", "connect", "encode", "encode_activations", "ensure_firings", "open_firings",
    "sae_key", "write_firings",
]
