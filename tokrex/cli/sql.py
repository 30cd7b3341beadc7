"""`tokrex sql`: one DuckDB query over a store's views, printed or exported."""

from __future__ import annotations

import decimal
import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from tokrex.cli.common import Format, OutOption

_EPILOG = (
    "Views: tokens(token, doc, pos, id), docs(doc, start, n_tokens, ...), vocab(id, piece, surface, core, "
    "word_start, ...); with --sae: firings(token, latent, act), latents(latent, level, n_fires, ...)."
)


def sql_command(
    query: str = typer.Argument(..., metavar="QUERY", help="A DuckDB SQL query over the views (quote it for the shell)."),
    store: Optional[Path] = typer.Option(None, "--store", "-s", metavar="DIR", show_default=False, help="The corpus store (default: $TOKREX_STORE, else the store `tokrex demo` builds)."),
    sae: Optional[str] = typer.Option(None, "--sae", metavar="CKPT", help="An SAE checkpoint folder (any supported format) or the id of an SAE encoded in the store: adds the firings and latents views, encoding first if needed."),
    fmt: Format = typer.Option(Format.table, "--format", help="table (for people), json, jsonl, csv or parquet (needs --out)."),
    out: Optional[Path] = OutOption,
    max_rows: int = typer.Option(50, "--max-rows", metavar="N", help="Rows shown by --format table (the others are counted, not shown)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar on stderr if the SAE must be encoded first."),
) -> None:
    """Run a DuckDB SQL query over the store's views and print or export the result."""
    from tokrex.cli.common import require_out_for_binary
    from tokrex.corpus import open_corpus
    from tokrex.errors import UsageError
    from tokrex.store.views import connect, run_query

    require_out_for_binary(fmt, out)
    if max_rows < 0:
        raise UsageError("--max-rows must be 0 or more.")
    from tokrex.query.resolve import open_sae_firings, store_path

    corpus = open_corpus(store_path(store))
    firings = open_sae_firings(corpus, sae, progress=progress)[0] if sae is not None else None
    con = connect(corpus, firings)
    try:
        reader = run_query(con, query, with_firings=firings is not None)
        if reader is None:
            from tokrex.cli.common import err_console

            err_console.print("The statement returned no rows.")
            return
        if fmt is Format.table and out is None:
            _print_table(reader, max_rows)
        else:
            _export(reader, fmt, out)
    finally:
        con.close()


def _print_table(reader: Any, max_rows: int) -> None:
    from rich.table import Table

    from tokrex.cli.common import out_console

    names = reader.schema.names
    table = Table(*names, header_style="bold", show_lines=False)
    shown = total = 0
    for batch in _batches(reader):
        total += batch.num_rows
        if shown < max_rows:
            part = batch.slice(0, max_rows - shown)
            for row in zip(*(c.to_pylist() for c in part.columns)):
                table.add_row(*(_cell(v) for v in row))
            shown += part.num_rows
    note = f"{total:,} row{'s' if total != 1 else ''}" + (
        f" ({total - shown:,} not shown: use --max-rows, --format or --out for all)" if total > shown else ""
    )
    out_console.print(table)
    out_console.print(note, style="dim", markup=False)


def _cell(value: Any) -> str:
    from rich.markup import escape

    if value is None:
        return "[dim]NULL[/]"
    if isinstance(value, float):
        return f"{value:.6g}"
    return escape(str(value))


def _export(reader: Any, fmt: Format, out: Path | None) -> None:
    """Stream the result to ``out`` (atomically) or stdout, batch by batch."""
    from tokrex import atomic

    if out is None:
        _write_stream(reader, fmt, sys.stdout.buffer)
        return
    with atomic.atomic_path(out) as tmp:
        if fmt is Format.parquet:
            _write_parquet(reader, tmp)
        else:
            with open(tmp, "wb") as f:
                _write_stream(reader, fmt, f)


def _write_parquet(reader: Any, path: Path) -> None:
    import pyarrow.parquet as pq

    with pq.ParquetWriter(path, reader.schema, compression="zstd") as w:
        for batch in _batches(reader):
            w.write_batch(batch)


def _write_stream(reader: Any, fmt: Format, f: Any) -> None:
    write = f.write
    if fmt is Format.csv:
        import pyarrow.csv as pacsv

        with pacsv.CSVWriter(f, reader.schema) as w:
            for batch in _batches(reader):
                w.write_batch(batch)
        f.flush()
        return
    first = True
    if fmt is Format.json:
        write(b"[")
    for batch in _batches(reader):
        for row in batch.to_pylist():
            line = json.dumps(row, default=_json_value)
            if fmt is Format.json:
                write((("" if first else ",") + line).encode())
            else:
                write((line + "\n").encode())
            first = False
    if fmt is Format.json:
        write(b"]\n")
    f.flush()


def _batches(reader: Any):
    from tokrex.store.views import batches

    return batches(reader)


def _json_value(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return str(value)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the tokrex app."""
    app.command("sql", epilog=_EPILOG)(sql_command)
