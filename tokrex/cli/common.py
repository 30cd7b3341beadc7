"""Shared pieces of the CLI: consoles, output formats, the error edge."""

from __future__ import annotations

import io
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from tokrex import atomic

# Tables and data go to stdout, progress and logs to stderr.
out_console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


class HookChoice(str, Enum):
    """Which activation of a transformer block (see tokrex.activations)."""

    resid_post = "resid_post"
    mlp_out = "mlp_out"
    attn_out = "attn_out"


class ObjectiveChoice(str, Enum):
    """SAE training objective: Matryoshka nested prefixes, or one prefix."""

    matryoshka = "matryoshka"
    vanilla = "vanilla"


class Format(str, Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"


def count_text(n: int) -> str:
    """1000000 -> 1M, 250000 -> 250k (the form count options such as --tokens take)."""
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


def print_error(exc: Exception) -> None:
    """One red 'Error: ...' line on stderr (pattern errors add the pattern and a caret)."""
    render = getattr(exc, "render", None)
    text = render() if callable(render) else str(exc)
    first, _, rest = text.partition("\n")
    console = Console(stderr=True, highlight=False)
    console.print(f"[bold red]Error:[/] {_escape(first)}", soft_wrap=True)  # one line, whatever the width
    if rest:
        console.print(rest, markup=False, highlight=False, soft_wrap=True)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def write_output(data: bytes | str, out: Path | None) -> None:
    """Write ``data`` to ``out`` atomically, or to stdout when ``out`` is None."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if out is None:
        sys.stdout.buffer.write(data) if hasattr(sys.stdout, "buffer") else sys.stdout.write(data.decode())
        sys.stdout.flush()
    else:
        atomic.write_bytes(out, data)


def table_bytes(table: Any, fmt: Format) -> bytes:
    """Serialize an Arrow table as jsonl, json (list of objects), csv or parquet."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if not isinstance(table, pa.Table):
        raise TypeError("expected a pyarrow.Table")
    if fmt is Format.parquet:
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        return buf.getvalue()
    if fmt is Format.csv:
        buf = io.BytesIO()
        pacsv.write_csv(table, buf)
        return buf.getvalue()
    rows = table.to_pylist()
    if fmt is Format.jsonl:
        return "".join(json.dumps(r, default=_json_default) + "\n" for r in rows).encode()
    return (json.dumps(rows, default=_json_default, indent=None) + "\n").encode()


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def dump_json(obj: Any) -> bytes:
    return (json.dumps(obj, default=_json_default) + "\n").encode()


def require_out_for_binary(fmt: Format, out: Path | None) -> None:
    from tokrex.errors import UsageError

    if fmt is Format.parquet and out is None:
        raise UsageError("--format parquet needs --out FILE (binary output is not written to a terminal).")


OutOption = typer.Option(None, "--out", "-o", help="Write the output to this file (atomically) instead of stdout.")
