"""Reading documents from input files, in order, one at a time.

``.txt``: the whole file is one document. ``.jsonl``: one JSON object per line, the text in
field ``text`` (configurable); blank lines are skipped. ``.parquet``: one document per row,
column ``text`` (configurable). A null text is an empty document, so numbering follows rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tokrex.errors import CorpusError

SUFFIXES = (".txt", ".jsonl", ".parquet")


@dataclass(frozen=True)
class Document:
    """One input document."""

    text: str
    """The document's text."""
    source: str
    """The input file it came from."""
    index: int
    """0-based position inside that file: the line of a .jsonl, the row of a .parquet, 0 for a .txt."""
    nbytes: int
    """Input bytes consumed for it (drives the progress bar)."""


def check_inputs(paths: list[Path]) -> None:
    """Fail early, with one sentence, on a missing, unreadable or unsupported input."""
    for p in paths:
        if not p.exists():
            raise CorpusError(f"Input file {p} does not exist.")
        if not p.is_file():
            raise CorpusError(f"Input {p} is not a file; pass .txt, .jsonl or .parquet files.")
        if p.suffix.lower() not in SUFFIXES:
            raise CorpusError(f"Input {p} has an unsupported type; tokrex reads .txt (one document per file), .jsonl (one per line) and .parquet (one per row).")


def iter_documents(paths: list[Path], text_field: str = "text") -> Iterator[Document]:
    """Every document of every input, files in argument order, lines/rows in order."""
    for p in paths:
        suffix = p.suffix.lower()
        if suffix == ".txt":
            yield _read_txt(p)
        elif suffix == ".jsonl":
            yield from _read_jsonl(p, text_field)
        else:
            yield from _read_parquet(p, text_field)


def _read_txt(p: Path) -> Document:
    try:
        raw = p.read_bytes()
        return Document(raw.decode("utf-8-sig"), str(p), 0, len(raw))  # a byte-order mark is not text
    except UnicodeDecodeError as exc:
        raise CorpusError(f"Input {p} is not UTF-8 text (byte {exc.start} is invalid).") from exc
    except OSError as exc:
        raise CorpusError(f"Cannot read input {p}: {exc.strerror or exc}.") from exc


def _read_jsonl(p: Path, field: str) -> Iterator[Document]:
    try:
        fh = p.open("rb")
    except OSError as exc:
        raise CorpusError(f"Cannot read input {p}: {exc.strerror or exc}.") from exc
    with fh:
        for lineno, raw in enumerate(fh, start=1):
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise CorpusError(f"Line {lineno} of {p} is not valid JSON ({exc}).") from exc
            if not isinstance(obj, dict) or field not in obj:
                raise CorpusError(f"Line {lineno} of {p} has no field '{field}'; use --text-field to name the field that holds the text.")
            text = obj[field]
            if text is None:
                text = ""
            if not isinstance(text, str):
                raise CorpusError(f"Field '{field}' on line {lineno} of {p} is a {type(text).__name__}, not text.")
            yield Document(text, str(p), lineno - 1, len(raw))


def _read_parquet(p: Path, field: str) -> Iterator[Document]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(p)
    except (pa.ArrowException, OSError) as exc:
        raise CorpusError(f"Input {p} is not a readable Parquet file ({exc}).") from exc
    if field not in pf.schema_arrow.names:
        raise CorpusError(f"Parquet input {p} has no column '{field}'; use --text-field to name the column that holds the text.")
    col_type = pf.schema_arrow.field(field).type
    if not (pa.types.is_string(col_type) or pa.types.is_large_string(col_type)):
        raise CorpusError(f"Column '{field}' of {p} holds {col_type}, not text.")
    n_rows = max(pf.metadata.num_rows, 1)
    per_row = max(p.stat().st_size // n_rows, 1)
    row = 0
    try:
        for batch in pf.iter_batches(columns=[field], batch_size=1024):
            for text in batch.column(0).to_pylist():
                yield Document(text or "", str(p), row, per_row)
                row += 1
    except (pa.ArrowException, OSError) as exc:
        raise CorpusError(f"Input {p} is corrupt or truncated at row {row} ({exc}).") from exc
