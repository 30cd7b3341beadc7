"""Opening a corpus store: checked manifest, lazily loaded token ids, documents and vocabulary.

Layout (see docs/store.md):

    STORE/manifest.json    format, version, tokenizer identity, counts
    STORE/tokens.parquet   column ``id`` (uint8, uint16 or uint32), row i = global token i
    STORE/docs.parquet     doc, start, n_tokens, source, source_index
    STORE/vocab.parquet    id, piece, surface, core, word_start, data
    STORE/tokenizer/       a copy of the tokenizer files
"""

from __future__ import annotations

import json
import os
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from tokrex.corpus.arrays import column_numpy
from tokrex.corpus.vocab import Vocab
from tokrex.errors import CorpusError

FORMAT = "tokrex-corpus"
VERSION = 1
MANIFEST = "manifest.json"
TOKENS = "tokens.parquet"
DOCS = "docs.parquet"
VOCAB = "vocab.parquet"
TOKENIZER_DIR = "tokenizer"
DTYPES = ("uint8", "uint16", "uint32")

_REBUILD = "rebuild it with `tokrex corpus build ... --replace`"


def is_store(path: Path) -> bool:
    """Whether ``path`` looks like a corpus store (has a manifest naming our format)."""
    try:
        return json.loads((path / MANIFEST).read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _read_manifest(path: Path) -> dict:
    if not path.exists():
        raise CorpusError(f"No corpus store at {path}; build one with `tokrex corpus build INPUT... --tokenizer TOK --store {path}`.")
    if not path.is_dir() or not (path / MANIFEST).is_file():
        raise CorpusError(f"{path} is not a tokrex corpus store (it has no {MANIFEST}); pass the directory given to `tokrex corpus build --store`.")
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorpusError(f"The manifest of {path} is corrupt ({exc}); {_REBUILD}.") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CorpusError(f"{path} is not a tokrex corpus store (its {MANIFEST} is of another format); pass the directory given to `tokrex corpus build --store`.")
    version = manifest.get("version")
    if version != VERSION:
        raise CorpusError(f"{path} is a corpus store of format version {version}, but this tokrex reads version {VERSION}; {_REBUILD}.")
    try:
        tok = manifest["tokenizer"]
        ok = (
            isinstance(tok["hash"], str) and isinstance(tok["vocab_size"], int)
            and isinstance(manifest["n_docs"], int) and isinstance(manifest["n_tokens"], int)
            and manifest["token_dtype"] in DTYPES
        )
    except (KeyError, TypeError):
        ok = False
    if not ok:
        raise CorpusError(f"The manifest of {path} is incomplete or corrupt; {_REBUILD}.")
    return manifest


def _parquet_rows(path: Path, name: str) -> tuple[int, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    file = path / name
    if not file.is_file():
        raise CorpusError(f"The corpus store {path} is incomplete: {name} is missing; {_REBUILD}.")
    try:
        meta = pq.read_metadata(file)
        return meta.num_rows, meta.schema.to_arrow_schema()
    except (pa.ArrowException, OSError) as exc:
        raise CorpusError(f"{file} is corrupt or truncated ({exc}); {_REBUILD}.") from exc


def open_corpus(path: str | os.PathLike) -> "Corpus":
    """Open a corpus store; raises CorpusError with one sentence when missing, of another
    format version, or corrupt. Token ids, documents and vocabulary load lazily."""
    path = Path(path).expanduser()
    manifest = _read_manifest(path)
    checks = ((TOKENS, manifest["n_tokens"]), (DOCS, manifest["n_docs"]), (VOCAB, manifest["tokenizer"]["vocab_size"]))
    for name, expected in checks:
        rows, schema = _parquet_rows(path, name)
        if rows != expected:
            raise CorpusError(f"{path / name} holds {rows} rows but the manifest says {expected}; {_REBUILD}.")
        if name == TOKENS and ("id" not in schema.names or str(schema.field("id").type) != manifest["token_dtype"]):
            raise CorpusError(f"{path / name} does not hold {manifest['token_dtype']} token ids; {_REBUILD}.")
    return Corpus(path, manifest)


class Corpus:
    """A tokenized corpus on disk. Cheap to open; arrays load on first use and are cached."""

    def __init__(self, path: Path, manifest: dict):
        self.path = path
        """The store directory."""
        self.manifest = manifest
        """The parsed manifest.json."""

    def __repr__(self) -> str:
        return f"Corpus({str(self.path)!r}, n_docs={self.n_docs}, n_tokens={self.n_tokens})"

    @property
    def n_docs(self) -> int:
        return int(self.manifest["n_docs"])

    @property
    def n_tokens(self) -> int:
        return int(self.manifest["n_tokens"])

    @property
    def token_dtype(self) -> np.dtype:
        return np.dtype(self.manifest["token_dtype"])

    @property
    def tokenizer_hash(self) -> str:
        """Identity of the tokenizer (``tokrex.corpus.tokenizer_hash`` of a model's tokenizer matches it)."""
        return str(self.manifest["tokenizer"]["hash"])

    @property
    def tokenizer_name(self) -> str:
        return str(self.manifest["tokenizer"].get("name", ""))

    @property
    def content_hash(self) -> str:
        """sha256 over the token ids and document lengths: identity of the corpus content."""
        return str(self.manifest.get("content_hash", ""))

    @property
    def tokenizer_dir(self) -> Path:
        return self.path / TOKENIZER_DIR

    # -- lazily loaded arrays -----------------------------------------------------------------

    def _read(self, name: str, columns: list[str] | None = None) -> Any:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(self.path / name).read(columns=columns, use_threads=True)
        except (pa.ArrowException, OSError) as exc:
            raise CorpusError(f"{self.path / name} is corrupt or truncated ({exc}); {_REBUILD}.") from exc

    @cached_property
    def ids(self) -> np.ndarray:
        """Token ids of the whole corpus in global order (uint8, uint16 or uint32)."""
        try:
            ids = column_numpy(self._read(TOKENS, ["id"]).column("id"), self.token_dtype)
        except ValueError as exc:
            raise CorpusError(f"{self.path / TOKENS} does not match the manifest ({exc}); {_REBUILD}.") from exc
        if len(ids) != self.n_tokens:
            raise CorpusError(f"{self.path / TOKENS} does not match the manifest; {_REBUILD}.")
        ids.flags.writeable = False
        return ids

    @cached_property
    def doc_offsets(self) -> np.ndarray:
        """int64 (n_docs+1,): document d is ``ids[doc_offsets[d]:doc_offsets[d+1]]``."""
        table = self._read(DOCS, ["start", "n_tokens"])
        try:
            starts = column_numpy(table.column("start"), np.int64)
            counts = column_numpy(table.column("n_tokens"), np.int64)
        except ValueError as exc:
            raise CorpusError(f"{self.path / DOCS} is not a valid documents table ({exc}); {_REBUILD}.") from exc
        offsets = np.empty(self.n_docs + 1, dtype=np.int64)
        offsets[0] = 0
        np.cumsum(counts, out=offsets[1:])
        if len(starts) != self.n_docs or not np.array_equal(starts, offsets[:-1]) or offsets[-1] != self.n_tokens:
            raise CorpusError(f"{self.path / DOCS} does not match the token file; {_REBUILD}.")
        offsets.flags.writeable = False
        return offsets

    def docs(self) -> Any:
        """The documents table (pyarrow): doc, start, n_tokens, source, source_index."""
        return self._read(DOCS)

    @cached_property
    def vocab(self) -> Vocab:
        """The normalized vocabulary (piece, surface, core, word_start per id)."""
        try:
            return Vocab.from_arrow(self._read(VOCAB))
        except ValueError as exc:
            raise CorpusError(f"{self.path / VOCAB} is not a valid vocabulary table ({exc}); {_REBUILD}.") from exc

    # -- positions and text -------------------------------------------------------------------

    def doc_tokens(self, doc: int) -> np.ndarray:
        """Token ids of one document."""
        if not 0 <= doc < self.n_docs:
            raise CorpusError(f"Document {doc} is out of range; this corpus has documents 0..{self.n_docs - 1}.")
        return self.ids[self.doc_offsets[doc] : self.doc_offsets[doc + 1]]

    def locate(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Global token indices -> (document, 0-based position within the document)."""
        tokens = np.asarray(tokens, dtype=np.int64)
        doc = np.searchsorted(self.doc_offsets, tokens, side="right") - 1
        return doc, tokens - self.doc_offsets[doc]

    def text(self, ids: Any) -> str:
        """Display text of a run of token ids (see ``Vocab.text``)."""
        return self.vocab.text(ids)

    def load_tokenizer(self) -> Any:
        """The Hugging Face fast tokenizer from the store's own copy (imports transformers)."""
        from tokrex.corpus.tokenizer import load_tokenizer

        return load_tokenizer(self.tokenizer_dir)

    def decode(self, ids: Any) -> str:
        """Decode ids with the real tokenizer (slower than ``text``; loads transformers)."""
        return self.load_tokenizer().decode([int(i) for i in ids])

    def check_tokenizer(self, tokenizer: Any, what: str = "the model") -> None:
        """Raise CorpusError unless ``tokenizer`` (object, path or hash string) is this store's tokenizer."""
        from tokrex.corpus.tokenizer import tokenizer_hash

        is_hash = isinstance(tokenizer, str) and len(tokenizer) == 64 and all(c in "0123456789abcdef" for c in tokenizer)
        other = tokenizer if is_hash else tokenizer_hash(tokenizer)
        if other != self.tokenizer_hash:
            raise CorpusError(
                f"The corpus store {self.path} was built with another tokenizer than {what} "
                f"(hash {self.tokenizer_hash[:12]} vs {other[:12]}); rebuild the store with {what}'s tokenizer."
            )

    def size_bytes(self) -> int:
        """Bytes on disk of everything under the store directory."""
        return sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())

    def info(self) -> dict:
        """Summary for `tokrex corpus info`."""
        tok = self.manifest["tokenizer"]
        return {
            "store": str(self.path),
            "n_docs": self.n_docs,
            "n_tokens": self.n_tokens,
            "vocab_size": int(tok["vocab_size"]),
            "tokenizer": tok.get("name", ""),
            "tokenizer_hash": tok["hash"],
            "tokenizer_family": tok.get("family", ""),
            "token_dtype": self.manifest["token_dtype"],
            "size_bytes": self.size_bytes(),
            "created": self.manifest.get("created", ""),
            "tokrex_version": self.manifest.get("tokrex_version", ""),
            "format_version": self.manifest["version"],
        }
