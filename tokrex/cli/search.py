"""`tokrex search PATTERN --sae CKPT`: which latents explain a pattern, how well, and where they fail.

Output forms (docs/output.md): a rich report (default), one JSON object, or one row per latent
as jsonl, csv or parquet. On a repeated search the SAE's id comes from a cache, so this path
imports neither torch nor transformers; firings missing from the store are encoded first.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer

from tokrex.cli.common import Format, OutOption, dump_json, err_console, out_console, require_out_for_binary, table_bytes, write_output
from tokrex.query.config import ENGINES, RANK_BY, SearchConfig

By = Enum("By", {name: name for name in RANK_BY}, type=str)
Engine = Enum("Engine", {name: name for name in ENGINES}, type=str)

DEFAULT_EXAMPLES = 3
DEFAULT_CONTEXT = 6


def _config(**kwargs: Any) -> SearchConfig:
    from tokrex.errors import UsageError

    try:
        return SearchConfig(**kwargs)
    except ValueError as exc:
        raise UsageError(f"{exc}.") from None


def _flat(table: Any) -> Any:
    """Nested columns (top_tokens, holes) as JSON text, for CSV."""
    import pyarrow as pa

    for i, f in enumerate(table.schema):
        if pa.types.is_list(f.type) or pa.types.is_struct(f.type):
            values = [None if v is None else json.dumps(v) for v in table.column(i).to_pylist()]
            table = table.set_column(i, pa.field(f.name, pa.string()), pa.array(values, pa.string()))
    return table


def search(
    pattern: Optional[str] = typer.Argument(None, metavar="PATTERN", show_default=False, help="The token-regex pattern (see docs/language.md); latent atoms such as L42 or L42>0.5 are allowed. Or use -f FILE."),
    sae: str = typer.Option(..., "--sae", metavar="CKPT", help="The SAE: a checkpoint folder (tokrex, SAELens, sparsify, dictionary_learning) or the id of an SAE encoded in the store."),
    store: Optional[Path] = typer.Option(None, "--store", "-s", metavar="DIR", show_default=False, help="The corpus store (default: $TOKREX_STORE, else the store `tokrex demo` builds)."),
    file: Optional[Path] = typer.Option(None, "--file", "-f", metavar="FILE", help="Read the pattern (or a pattern script) from FILE."),
    by: By = typer.Option(By.f1, "--by", help="Rank by f1, precision, recall, cosine or auroc."),
    top: int = typer.Option(20, "--top", "-n", min=0, help="How many latents to show (0: all that pass --min-fires)."),
    min_fires: int = typer.Option(1, "--min-fires", min=0, help="Only rank latents that fire on at least N corpus tokens."),
    threshold: float = typer.Option(0.0, "--threshold", min=0.0, help="A latent fires where its activation is above X (default: above 0)."),
    auroc: bool = typer.Option(False, "--auroc", help="Also compute each shown latent's AUROC (activation as the score); implied by --by auroc."),
    holes: bool = typer.Option(False, "--holes", help="List the latents that fire on the positives each of the first --holes-for latents misses (absorption)."),
    holes_for: int = typer.Option(5, "--holes-for", min=0, help="With --holes: how many of the shown latents get a list of absorbing latents."),
    holes_top: int = typer.Option(5, "--holes-top", min=0, help="With --holes: absorbing latents listed per latent."),
    cover: int = typer.Option(0, "--cover", min=0, metavar="K", help="Greedy set of up to K latents whose union best explains the pattern (F1), step by step."),
    top_tokens: int = typer.Option(3, "--top-tokens", min=0, help="Most frequent tokens listed for each shown latent."),
    engine: Engine = typer.Option(Engine.auto, "--engine", help="auto, numpy (token-major index) or duckdb (SQL over the Parquet firings)."),
    examples: int = typer.Option(DEFAULT_EXAMPLES, "--examples", min=0, help="Show example contexts (hits, misses, false alarms) under the first N latents (table output)."),
    context: int = typer.Option(DEFAULT_CONTEXT, "--context", "-C", min=0, help="Tokens of context on each side of an example."),
    fmt: Format = typer.Option(Format.table, "--format", help="table (report), json (one object), or jsonl/csv/parquet (one row per latent)."),
    out: Optional[Path] = OutOption,
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars on stderr (encoding, index builds)."),
) -> None:
    """Rank the SAE's latents by how well they explain PATTERN's positive tokens.

    For every latent: tp/fp/fn, precision, recall, F1, the cosine between the positive mask and
    the latent's activations, and the share of positives it misses. Firings missing from the
    store are encoded first.
    """
    from tokrex.cli.match import _read_pattern
    from tokrex.corpus import open_corpus
    from tokrex.query.resolve import open_sae_firings, store_path
    from tokrex.query.searching import search_firings

    text = _read_pattern(pattern, file)
    cfg = _config(
        by=by.value, top=top, min_fires=min_fires, threshold=threshold, auroc=auroc, holes=holes, holes_for=holes_for,
        holes_top=holes_top, cover=cover, top_tokens=top_tokens, engine=engine.value,
    )
    require_out_for_binary(fmt, out)
    corpus = open_corpus(store_path(store))
    firings, _ = open_sae_firings(corpus, sae, progress=progress)
    firings.progress = progress  # bars for index builds too
    con = None
    if cfg.engine == "duckdb":
        from tokrex.store import connect

        con = connect(corpus, firings)
    result = search_firings(text, corpus, firings, cfg, con=con)
    if result.n_positives == 0 and fmt is not Format.table:
        err_console.print(f"No positives: the pattern matches 0 of {corpus.n_tokens:,} tokens.")
    if fmt is Format.json:
        write_output(dump_json(result.to_json()), out)
    elif fmt is Format.parquet:
        write_output(table_bytes(result.table(), fmt), out)
    elif fmt is not Format.table:
        write_output(table_bytes(_flat(result.latents) if fmt is Format.csv else result.latents, fmt), out)
    else:
        from tokrex.cli.search_report import print_report

        print_report(result, corpus, firings, sae, examples, context, out)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the tokrex app."""
    app.command("search")(search)
