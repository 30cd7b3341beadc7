"""DuckDB views over a store: ``tokens``, ``docs``, ``vocab`` and, with an SAE, ``firings``, ``latents``.

Views read the Parquet files directly. File paths never enter SQL text: each file is opened
with DuckDB's relational API (``read_parquet``, which takes the path as a value) and
registered as a hidden view (``_tokens_src``...); the public views are fixed SQL over those.

``tokens`` derives ``doc`` and ``pos`` at query time: the row number of ``tokens.parquet``
is the global token index, and an ASOF join with the non-empty documents' ``start`` gives the
document (filters on ``token``, ``id`` or ``doc`` are pushed into the scan).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tokrex.errors import QueryError, StoreError

VIEWS = ("tokens", "docs", "vocab", "firings", "latents")
"""The public view names (a stable interface; columns may be added)."""

_TOKENS_SQL = """
CREATE VIEW tokens AS
SELECT t.file_row_number AS token, d.doc AS doc, t.file_row_number - d.start AS pos, t.id AS id
FROM _tokens_src AS t
ASOF JOIN (SELECT doc, start FROM _docs_src WHERE n_tokens > 0) AS d ON t.file_row_number >= d.start
"""
_DOCS_SQL = "CREATE VIEW docs AS SELECT * FROM _docs_src"
_VOCAB_SQL = "CREATE VIEW vocab AS SELECT * FROM _vocab_src"
_FIRINGS_SQL = "CREATE VIEW firings AS SELECT token, latent, act FROM _firings_src"
_LATENTS_SQL = "CREATE VIEW latents AS SELECT * FROM _latents_src"


def connect(corpus: Any, firings: Any = None, *, threads: int | None = None):
    """An in-memory DuckDB connection with the store's views.

    ``tokens(token, doc, pos, id)``, ``docs(doc, start, n_tokens, ...)``,
    ``vocab(id, piece, surface, core, word_start, ...)``; with ``firings`` (a ``Firings``):
    ``firings(token, latent, act)`` and ``latents(latent, level, n_fires, ...)``.
    """
    import duckdb

    from tokrex.corpus.store import DOCS, TOKENS, VOCAB

    con = duckdb.connect(":memory:", config={"threads": int(threads)} if threads else {})
    root = Path(corpus.path)
    try:
        _source(con, "_tokens_src", [root / TOKENS], file_row_number=True)
        _source(con, "_docs_src", [root / DOCS])
        _source(con, "_vocab_src", [root / VOCAB])
        for sql in (_TOKENS_SQL, _DOCS_SQL, _VOCAB_SQL):
            con.execute(sql)
        if firings is not None:
            _source(con, "_firings_src", firings.parts)
            _source(con, "_latents_src", [firings.layout.latents_path])
            con.execute(_FIRINGS_SQL)
            con.execute(_LATENTS_SQL)
    except duckdb.Error as exc:
        con.close()
        raise StoreError(f"Cannot open the store {root} in DuckDB: {_first_line(exc)}") from None
    return con


def _source(con: Any, name: str, paths: list[Path], *, file_row_number: bool = False) -> None:
    for p in paths:
        if not Path(p).is_file():
            raise StoreError(f"{p} is missing; the store is incomplete.")
    rel = con.read_parquet([str(p) for p in paths], file_row_number=file_row_number, hive_partitioning=False)
    rel.create_view(name, replace=True)


def run_query(con: Any, query: str, batch_rows: int = 65536, *, with_firings: bool = True):
    """Run ``query``: a ``pyarrow.RecordBatchReader`` over its result (None for a statement without one).

    DuckDB's complaint (syntax, unknown name, failure while reading) becomes a one-sentence
    QueryError; errors raised while batches are read are translated by ``batches``. With
    ``with_firings=False`` (no SAE given), a query naming ``firings`` or ``latents`` is told to add one.
    """
    import duckdb

    try:
        rel = con.sql(query)
        if rel is None:
            return None
        for name in ("to_arrow_reader", "fetch_arrow_reader", "record_batch"):
            fn = getattr(rel, name, None)
            if fn is not None:
                return fn(batch_rows)
        return rel.arrow().to_reader()  # pragma: no cover - other DuckDB versions
    except duckdb.Error as exc:
        missing = _SAE_VIEW.search(str(exc)) if not with_firings else None
        if missing:
            raise QueryError(
                f"The {missing.group(1)} view needs an SAE: add --sae CKPT (a checkpoint folder or the id of an SAE "
                f"encoded in the store)."
            ) from None
        raise QueryError(f"The query failed: {_first_line(exc)}") from None


_SAE_VIEW = re.compile(r"Table with name (firings|latents) does not exist", re.IGNORECASE)


def batches(reader: Any):
    """Iterate a result's record batches, turning a DuckDB error met while reading into a QueryError."""
    import duckdb

    try:
        yield from reader
    except duckdb.Error as exc:
        raise QueryError(f"The query failed: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    text = " ".join(str(exc).split("\n")[:2]).strip()
    return text if text.endswith((".", "!", "?")) else text + "."
