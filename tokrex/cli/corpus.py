"""`tokrex corpus build` and `tokrex corpus info`: make and describe a tokenized corpus store."""

from __future__ import annotations

from pathlib import Path
from typing import List

import typer

from tokrex.cli.common import Format, OutOption, dump_json, out_console, write_output

corpus_app = typer.Typer(
    name="corpus",
    help="Build and inspect a tokenized corpus store.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)


@corpus_app.command("build")
def build(
    inputs: List[Path] = typer.Argument(
        ..., metavar="INPUT", show_default=False,
        help="Input files in order: .txt (one document per file), .jsonl (one per line), .parquet (one per row). Documents are numbered 0, 1, 2... in this order.",
    ),
    tokenizer: str = typer.Option(
        ..., "--tokenizer", "-t", metavar="TOK",
        help="A Hugging Face tokenizer or model directory, a tokenizer.json file, or a name already in the local HF cache (nothing is downloaded).",
    ),
    store: Path = typer.Option(..., "--store", "-s", metavar="DIR", help="The store directory to create."),
    text_field: str = typer.Option("text", "--text-field", help="The field (.jsonl) or column (.parquet) that holds each document's text."),
    replace: bool = typer.Option(False, "--replace", "--force", help="Replace an existing store at DIR (without it, building over a store is refused)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar on stderr."),
) -> None:
    """Tokenize documents into a corpus store (token ids, documents, vocabulary, tokenizer copy).

    Special tokens (BOS, EOS, CLS...) are never stored: the store holds the text's tokens only.
    The build streams with bounded memory and is atomic: an interrupted build leaves no store.
    """
    from tokrex.corpus.build import CorpusConfig, build_corpus
    from tokrex.errors import UsageError

    try:
        cfg = CorpusConfig(inputs=list(inputs), tokenizer=tokenizer, store=store, text_field=text_field, replace=replace, progress=progress)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    import time

    from tokrex.cli.common import err_console

    t0 = time.perf_counter()
    corpus = build_corpus(cfg)
    err_console.print(
        f"Built {corpus.path}: {corpus.n_docs:,} documents, {corpus.n_tokens:,} tokens "
        f"({corpus.manifest['token_dtype']}, vocabulary {corpus.vocab.size:,}) in {time.perf_counter() - t0:.1f} s.",
        markup=False,
    )


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


@corpus_app.command("info")
def info(
    store: Path = typer.Option(..., "--store", "-s", metavar="DIR", help="The corpus store directory."),
    fmt: Format = typer.Option(Format.table, "--format", help="table (human-readable), json (one object), or jsonl/csv/parquet (one row)."),
    out: Path = OutOption,
) -> None:
    """Show a store's counts (documents, tokens, vocabulary), tokenizer name and hash, token type and size on disk."""
    from tokrex.cli.common import require_out_for_binary, table_bytes
    from tokrex.corpus.store import open_corpus

    require_out_for_binary(fmt, out)
    data = open_corpus(store).info()
    if fmt is Format.json:
        write_output(dump_json(data), out)
        return
    if fmt is not Format.table:
        import pyarrow as pa

        write_output(table_bytes(pa.Table.from_pylist([data]), fmt), out)
        return
    from rich.table import Table

    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    rows = [
        ("store", data["store"]),
        ("documents", f"{data['n_docs']:,}"),
        ("tokens", f"{data['n_tokens']:,}"),
        ("vocabulary", f"{data['vocab_size']:,}"),
        ("tokenizer", data["tokenizer"]),
        ("tokenizer hash", data["tokenizer_hash"]),
        ("tokenizer family", data["tokenizer_family"]),
        ("token dtype", data["token_dtype"]),
        ("size on disk", f"{_human(data['size_bytes'])} ({data['size_bytes']:,} bytes)"),
        ("created", data["created"]),
        ("format version", str(data["format_version"])),
    ]
    for key, value in rows:
        table.add_row(key, str(value))
    if out is None:
        out_console.print(table)
    else:
        from rich.console import Console
        import io

        buf = io.StringIO()
        Console(file=buf, width=200, no_color=True).print(table)
        write_output(buf.getvalue(), out)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the tokrex app."""
    app.add_typer(corpus_app, name="corpus")
