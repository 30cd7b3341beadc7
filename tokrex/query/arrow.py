"""Arrow arrays to and from numpy through their buffers, without pyarrow's pandas bridge.

pyarrow imports pandas on its first numpy conversion (``pa.array(ndarray)``, ``Array.to_numpy``,
``pa.table(dict)``): about 0.3 s of CPU on every ``tokrex search``, more than the ranking itself.
The query stage builds and reads its tables with these helpers instead; anything they do not
cover (nulls, nested or temporal types) falls back to pyarrow's own conversion.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

_NUMPY_OF = {
    "int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64,
    "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32, "uint64": np.uint64,
    "halffloat": np.float16, "float": np.float32, "double": np.float64,
}
_ARROW_OF = {
    np.dtype(np.int8): pa.int8(), np.dtype(np.int16): pa.int16(), np.dtype(np.int32): pa.int32(),
    np.dtype(np.int64): pa.int64(), np.dtype(np.uint8): pa.uint8(), np.dtype(np.uint16): pa.uint16(),
    np.dtype(np.uint32): pa.uint32(), np.dtype(np.uint64): pa.uint64(), np.dtype(np.float16): pa.float16(),
    np.dtype(np.float32): pa.float32(), np.dtype(np.float64): pa.float64(),
}


def to_numpy(column: Any) -> np.ndarray:
    """A numeric or boolean Arrow (chunked) array as numpy (read-only view when possible)."""
    chunks = list(getattr(column, "chunks", [column]))
    parts = []
    for chunk in chunks:
        name = str(chunk.type)
        if chunk.null_count or (name not in _NUMPY_OF and name != "bool"):
            return np.asarray(column.to_numpy(zero_copy_only=False))
        if not len(chunk):
            continue
        if name == "bool":
            bits = np.frombuffer(chunk.buffers()[1], dtype=np.uint8)
            parts.append(np.unpackbits(bits, bitorder="little")[chunk.offset : chunk.offset + len(chunk)].astype(bool))
        else:
            dtype = np.dtype(_NUMPY_OF[name])
            parts.append(np.frombuffer(chunk.buffers()[1], dtype=dtype, count=len(chunk),
                                       offset=chunk.offset * dtype.itemsize))
    if not parts:
        name = str(chunks[0].type) if chunks else "int64"
        return np.zeros(0, dtype=bool if name == "bool" else _NUMPY_OF.get(name, np.int64))
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def from_numpy(values: Any, mask: np.ndarray | None = None) -> pa.Array:
    """A 1-d numeric or boolean numpy array as an Arrow array (``mask`` true marks nulls)."""
    values = np.ascontiguousarray(values)
    validity = None if mask is None else _bits(~np.asarray(mask, dtype=bool))
    if values.dtype == np.bool_:
        return pa.Array.from_buffers(pa.bool_(), len(values), [validity, _bits(values)])
    if values.dtype not in _ARROW_OF:
        return pa.array(values, mask=mask)
    return pa.Array.from_buffers(_ARROW_OF[values.dtype], len(values), [validity, pa.py_buffer(values)])


def strings(values: list[str]) -> pa.Array:
    """A list of str as an Arrow string array."""
    encoded = [v.encode("utf-8") for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    return pa.Array.from_buffers(pa.string(), len(encoded), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))])


def table(columns: dict[str, Any]) -> pa.Table:
    """An Arrow table from numpy arrays or Arrow arrays, in the given column order."""
    arrays = [c if isinstance(c, (pa.Array, pa.ChunkedArray)) else from_numpy(c) for c in columns.values()]
    return pa.Table.from_arrays(arrays, names=list(columns))


def list_of_structs(rows: list[list[dict] | None], fields: list[tuple[str, pa.DataType]]) -> pa.Array:
    """``list<struct<fields>>`` from per-row lists of dicts (None for a null row)."""
    flat = [item for row in rows for item in (row or [])]
    children = []
    for name, typ in fields:
        values = [item[name] for item in flat]
        if pa.types.is_string(typ):
            children.append(strings(values))
        elif pa.types.is_boolean(typ):
            children.append(from_numpy(np.array(values, dtype=bool)))
        else:
            children.append(from_numpy(np.array(values, dtype=_NUMPY_OF[str(typ)])))
    struct = pa.StructArray.from_arrays(children, fields=[pa.field(n, t) for n, t in fields]) if fields else None
    offsets = np.zeros(len(rows) + 1, dtype=np.int32)
    np.cumsum([len(row or []) for row in rows], out=offsets[1:])
    null = np.array([row is None for row in rows], dtype=bool)
    return pa.ListArray.from_arrays(from_numpy(offsets), struct, mask=from_numpy(null) if null.any() else None)


def _bits(flags: np.ndarray) -> pa.Buffer:
    return pa.py_buffer(np.packbits(np.asarray(flags, dtype=bool), bitorder="little"))
