"""Arrow columns as numpy arrays straight from their buffers.

(``to_numpy`` on Arrow arrays imports pandas in some pyarrow versions: a quarter second on
the `tokrex match` path.)
"""

from __future__ import annotations

from typing import Any

import numpy as np


def column_numpy(column: Any, dtype: Any) -> np.ndarray:
    """A null-free fixed-width Arrow (chunked) array as numpy, straight from its buffers.

    (``to_numpy`` would import pandas in some pyarrow versions, a quarter second on this path.)
    """
    dtype = np.dtype(dtype)
    chunks = getattr(column, "chunks", [column])
    parts = []
    for chunk in chunks:
        if chunk.null_count:
            raise ValueError("column has nulls")
        if str(chunk.type) != dtype.name:
            raise ValueError(f"column holds {chunk.type}, expected {dtype}")
        buf = chunk.buffers()[1]
        parts.append(np.frombuffer(buf, dtype=dtype, count=len(chunk), offset=chunk.offset * dtype.itemsize) if len(chunk) else np.empty(0, dtype))
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.empty(0, dtype)


def bool_numpy(column: Any) -> np.ndarray:
    """A null-free boolean Arrow (chunked) array as a numpy bool array (bits unpacked)."""
    parts = []
    for chunk in getattr(column, "chunks", [column]):
        if chunk.null_count:
            raise ValueError("column has nulls")
        if str(chunk.type) != "bool":
            raise ValueError(f"column holds {chunk.type}, expected bool")
        if len(chunk):
            bits = np.frombuffer(chunk.buffers()[1], dtype=np.uint8)
            parts.append(np.unpackbits(bits, bitorder="little")[chunk.offset : chunk.offset + len(chunk)].astype(bool))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)
