"""`tokrex match PATTERN --store DIR`: every place a token-regex pattern matches in a corpus.

Output forms (docs/output.md): a keyword-in-context table (default), one JSON object,
or one row per match as jsonl, csv or parquet. This path imports neither torch nor
transformers, loads the token ids in one read and renders only the rows it prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from tokrex.cli.common import Format, OutOption, dump_json, out_console, require_out_for_binary, table_bytes, write_output

DEFAULT_LIMIT = 20
DEFAULT_CONTEXT = 10


def _read_pattern(pattern: Optional[str], file: Optional[Path]) -> str:
    from tokrex.errors import UsageError

    if (pattern is None) == (file is None):
        raise UsageError("Give exactly one pattern: as the PATTERN argument or with -f FILE.")
    if file is None:
        return pattern or ""
    try:
        return file.read_text(encoding="utf-8").rstrip("\n")
    except FileNotFoundError:
        raise UsageError(f"Pattern file {file} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"Cannot read pattern file {file} ({exc}).") from None


def _plural(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def _summary(n_matches: int, n_positives: int, n_docs: int, n_tokens: int) -> str:
    return (
        f"{_plural(n_matches, 'match', 'matches')}, {_plural(n_positives, 'positive token', 'positive tokens')} "
        f"in {_plural(n_docs, 'document', 'documents')} ({_plural(n_tokens, 'token', 'tokens')})"
    )


def _json_object(text: str, corpus: Any, result: Any, limit: Optional[int], count_only: bool) -> dict:
    obj: dict[str, Any] = {
        "pattern": text,
        "n_docs": corpus.n_docs,
        "n_tokens": corpus.n_tokens,
        "n_matches": int(result.n_matches),
        "n_positives": int(result.n_positives),
    }
    if count_only:
        return obj
    import numpy as np

    pos = result.positives if limit is None else result.positives[:limit]
    pdoc, ppos = corpus.locate(pos)
    obj["positives"] = np.column_stack([pdoc, ppos]).tolist() if len(pos) else []
    doc, start, end = _spans(result, limit)
    obj["matches"] = [{"doc": d, "start": s, "end": e} for d, s, e in zip(doc.tolist(), start.tolist(), end.tolist())]
    return obj


def _spans(result: Any, limit: Optional[int]) -> tuple:
    """(doc, start, end) of all matches, or of the first ``limit`` (spans computed only where needed)."""
    if limit is None:
        return result.match_doc, result.match_start, result.match_end
    return result.head(limit)


def _rows_table(corpus: Any, result: Any, limit: Optional[int]) -> Any:
    import pyarrow as pa

    from tokrex.corpus.kwic import match_texts

    doc, start, end = _spans(result, limit)
    return pa.table({
        "doc": pa.array(doc, pa.int64()), "start": pa.array(start, pa.int64()), "end": pa.array(end, pa.int64()),
        "text": pa.array(match_texts(corpus, doc, start, end), pa.string()),
    })


def _counts_table(obj: dict) -> Any:
    import pyarrow as pa

    return pa.table({"pattern": [obj["pattern"]], **{k: pa.array([obj[k]], pa.int64()) for k in ("n_docs", "n_tokens", "n_matches", "n_positives")}})


def _crop_left(text: str, width: int) -> str:
    from rich.cells import cell_len

    if cell_len(text) <= width:
        return text
    kept, used = [], 1
    for ch in reversed(text):
        used += cell_len(ch)
        if used > width:
            break
        kept.append(ch)
    return "…" + "".join(reversed(kept))


def _render_table(corpus: Any, result: Any, limit: int, context: int, width: int) -> Any:
    """The keyword-in-context table of the first ``limit`` matches."""
    from rich import box
    from rich.cells import cell_len
    from rich.table import Table
    from rich.text import Text

    from tokrex.corpus.kwic import kwic_rows, visible

    rows = kwic_rows(corpus, *result.head(limit), result.positives, context)
    # Positives are shown apart from the rest of the match only when they are not simply each match's last token.
    apart = not all(r.last_only for r in rows)
    doc_w = max([3, *(len(str(r.doc)) for r in rows)])
    pos_w = max([3, *(len(str(r.start)) for r in rows)])
    avail = max(width - doc_w - pos_w - 10, 30)
    match_w = min(max([5, *(cell_len(visible(r.text)) for r in rows)]), max(12, avail // 3))
    side = max((avail - match_w) // 2, 8)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False)
    table.add_column("doc", justify="right", no_wrap=True, style="dim")
    table.add_column("pos", justify="right", no_wrap=True, style="dim")
    table.add_column("left", justify="right", no_wrap=True, width=side, overflow="crop")
    table.add_column("match", no_wrap=True, width=match_w, overflow="ellipsis")
    table.add_column("right", no_wrap=True, width=side, overflow="ellipsis")
    for r in rows:
        match = Text()
        for part, positive in r.parts:
            match.append(visible(part), style="bold black on yellow" if (positive and apart) else "bold cyan")
        match.truncate(match_w, overflow="ellipsis")
        table.add_row(str(r.doc), str(r.start), _crop_left(visible(r.left), side), match, visible(r.right))
    return table


def _check_pattern(text: str) -> None:
    """Raise the pattern's syntax error, or the 'needs an SAE' error of its first latent atom."""
    from tokrex.errors import NeedsSaeError
    from tokrex.pattern import ast as A
    from tokrex.pattern import parse_script

    script = parse_script(text)
    latent = next((n for n in A.walk(script.query) if isinstance(n, A.Latent)), None)
    if latent is not None:
        atom = text[latent.span[0] : latent.span[1]]
        raise NeedsSaeError(
            f"latent atom {atom} needs an SAE; `tokrex match` searches tokens only, so use "
            "`tokrex search PATTERN --sae CKPT` for latent atoms.", text, latent.span[0],
        )


def match(
    pattern: Optional[str] = typer.Argument(None, metavar="PATTERN", show_default=False, help="The token-regex pattern (see docs/language.md); or use -f FILE."),
    store: Path = typer.Option(..., "--store", "-s", metavar="DIR", help="The corpus store to search (built with `tokrex corpus build`)."),
    file: Optional[Path] = typer.Option(None, "--file", "-f", metavar="FILE", help="Read the pattern (or a pattern script) from FILE."),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", min=0, show_default=False, help=f"Show at most N matches (table default {DEFAULT_LIMIT}); for json/jsonl/csv/parquet, caps the lists only when given."),
    context: int = typer.Option(DEFAULT_CONTEXT, "--context", "-C", min=0, help="Tokens of context shown on each side of a match in the table."),
    count: bool = typer.Option(False, "--count", "-c", help="Print only the counts (matches, positive tokens)."),
    fmt: Format = typer.Option(Format.table, "--format", help="table (keyword in context), json (one object), or jsonl/csv/parquet (one row per match)."),
    out: Optional[Path] = OutOption,
) -> None:
    """Find every match of PATTERN in a corpus store.

    Shows each match in context (document, position, left context, the match, right
    context); positions are 0-based token positions within the document.
    """
    from tokrex.corpus.store import open_corpus
    from tokrex.pattern import compile as compile_pattern

    text = _read_pattern(pattern, file)
    require_out_for_binary(fmt, out)
    _check_pattern(text)  # a bad pattern is reported as such (exit 2) whatever the store
    corpus = open_corpus(store)
    compiled = compile_pattern(text, corpus.vocab)
    result = compiled.run(corpus.ids, corpus.doc_offsets)

    if fmt is Format.json:
        write_output(dump_json(_json_object(text, corpus, result, limit, count)), out)
    elif fmt is not Format.table:
        table = _counts_table(_json_object(text, corpus, result, limit, True)) if count else _rows_table(corpus, result, limit)
        write_output(table_bytes(table, fmt), out)
    else:
        summary = _summary(int(result.n_matches), int(result.n_positives), corpus.n_docs, corpus.n_tokens)
        _print_table(corpus, result, summary, None if count else (DEFAULT_LIMIT if limit is None else limit), context, out)


def _print_table(corpus: Any, result: Any, summary: str, limit: Optional[int], context: int, out: Optional[Path]) -> None:
    from rich.console import Console

    if out is None:
        console = out_console
    else:
        import io

        console = Console(file=io.StringIO(), width=max(out_console.width, 120), no_color=True, highlight=False)
    shown, n_matches = 0, int(result.n_matches)
    if limit is not None and limit > 0 and n_matches:
        console.print(_render_table(corpus, result, limit, context, console.width))
        shown = min(limit, n_matches)
    note = f"; showing {shown:,}, use --limit N for more" if 0 < shown < n_matches else ""
    console.print(summary + note + ".", highlight=False, markup=False)
    if out is not None:
        write_output(console.file.getvalue(), out)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the tokrex app."""
    app.command("match")(match)
