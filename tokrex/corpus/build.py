"""Building a corpus store: stream documents through the tokenizer into Parquet, atomically.

Memory stays bounded: documents are tokenized in batches and written in parts as they come
(see ``staging.py``). The store is built in a staging directory beside the target and renamed
into place at the end, so a store is never half-written; an interrupted build resumes.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from tokrex import __version__, atomic
from tokrex.corpus.inputs import Document, check_inputs, iter_documents
from tokrex.corpus.staging import Staging
from tokrex.corpus.store import FORMAT, MANIFEST, TOKENIZER_DIR, VERSION, VOCAB, Corpus, is_store, open_corpus
from tokrex.errors import CorpusError


@dataclass
class CorpusConfig:
    """What `tokrex corpus build` does."""

    inputs: list[Path]
    """Input files in order: .txt (one document per file), .jsonl (one per line), .parquet (one per row)."""
    tokenizer: str
    """A Hugging Face tokenizer directory, a tokenizer.json file, or a name in the local HF cache."""
    store: Path
    """The store directory to create."""
    text_field: str = "text"
    """The JSON field (.jsonl) or column (.parquet) holding each document's text."""
    replace: bool = False
    """Replace an existing store at ``store`` instead of refusing."""
    batch_bytes: int = 1 << 20
    """Characters of text tokenized per batch (bounds memory; a batch also stops at 4096 documents)."""
    row_group_tokens: int = 1 << 20
    """Tokens per Parquet row group in tokens.parquet (and about per resumable part)."""
    progress: bool = True
    """Show a progress bar on stderr."""

    def __post_init__(self) -> None:
        self.inputs = [Path(p) for p in self.inputs]
        self.store = Path(self.store)
        if not self.inputs:
            raise ValueError("Give at least one input file (.txt, .jsonl or .parquet).")
        if not self.text_field:
            raise ValueError("--text-field must not be empty.")
        if self.batch_bytes < 1 or self.row_group_tokens < 1:
            raise ValueError("batch_bytes and row_group_tokens must be positive.")


def token_dtype(vocab_size: int) -> str:
    """The narrowest unsigned integer type that holds every id below ``vocab_size``."""
    if vocab_size <= 1 << 8:
        return "uint8"
    return "uint16" if vocab_size <= 1 << 16 else "uint32"


def _check_target(cfg: CorpusConfig) -> None:
    store = cfg.store
    if not store.exists():
        return
    if is_store(store):
        if not cfg.replace:
            raise CorpusError(f"{store} already holds a corpus store; pass --replace to overwrite it, or choose another --store.")
        return
    if store.is_file() or any(store.iterdir()):
        raise CorpusError(f"{store} exists and is not a tokrex corpus store; choose another --store (tokrex never overwrites other files, --replace included).")


def _batches(docs: Iterator[Document], max_bytes: int) -> Iterator[list[Document]]:
    batch: list[Document] = []
    size = 0
    for doc in docs:
        batch.append(doc)
        size += len(doc.text)
        if size >= max_bytes or len(batch) >= 4096:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


class _Parts:
    """Collects tokenized batches and hands them to the staging directory in parts of about
    ``part_tokens`` tokens, always ending on a document boundary."""

    def __init__(self, staging: Staging, part_tokens: int):
        self.staging, self.part_tokens = staging, part_tokens
        self.dtype = np.dtype(staging.dtype)
        self.ids: list[np.ndarray] = []
        self.counts: list[np.ndarray] = []
        self.sources: list[str] = []
        self.indexes: list[int] = []
        self.n_pending = 0

    @property
    def n_docs(self) -> int:
        return self.staging.n_docs + len(self.sources)

    @property
    def n_tokens(self) -> int:
        return self.staging.n_tokens + self.n_pending

    def add(self, batch: list[Document], ids: list[list[int]]) -> None:
        counts = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        total = int(counts.sum())
        self.ids.append(np.fromiter(itertools.chain.from_iterable(ids), dtype=self.dtype, count=total))
        self.counts.append(counts)
        self.sources.extend(d.source for d in batch)
        self.indexes.extend(d.index for d in batch)
        self.n_pending += total
        if self.n_pending >= self.part_tokens:
            self.flush()

    def flush(self) -> None:
        if not self.sources:
            return
        self.staging.write_part(np.concatenate(self.ids), np.concatenate(self.counts), self.sources, self.indexes)
        self.ids, self.counts, self.sources, self.indexes, self.n_pending = [], [], [], [], 0


def _progress(enabled: bool) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]tokenizing[/]"), BarColumn(), DownloadColumn(), TextColumn("{task.fields[docs]:,} docs, {task.fields[tokens]:,} tokens"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True, highlight=False), disable=not enabled, transient=False,
    )


def _fingerprint(cfg: CorpusConfig, tok_hash: str, dtype: str) -> dict:
    inputs = []
    for p in cfg.inputs:
        st = p.stat()
        inputs.append([str(p.resolve()), st.st_size, st.st_mtime_ns])
    return {"version": VERSION, "inputs": inputs, "text_field": cfg.text_field, "tokenizer_hash": tok_hash, "token_dtype": dtype}


def _skip(docs: Iterator[Document], n: int) -> int:
    """Advance past the ``n`` documents a previous run tokenized; returns their input bytes."""
    nbytes = 0
    for _ in range(n):
        doc = next(docs, None)
        if doc is None:
            raise CorpusError("The inputs hold fewer documents than an interrupted build recorded; run the build again to start afresh.")
        nbytes += doc.nbytes
    return nbytes


def build_corpus(cfg: CorpusConfig) -> Corpus:
    """Tokenize ``cfg.inputs`` into a new store at ``cfg.store`` and open it.

    Special tokens are never stored: text is encoded without them, and special-token
    strings that occur in the text are tokenized as ordinary text. The build works in a
    staging directory beside the store; an interrupted build (Ctrl-C, a crash) resumes from
    its last complete part when run again, and a build that fails leaves nothing behind.
    """
    from tokrex.corpus.tokenizer import load_tokenizer, tokenizer_hash, tokenizer_name
    from tokrex.corpus.vocab import Vocab

    check_inputs(cfg.inputs)
    _check_target(cfg)
    tok = load_tokenizer(cfg.tokenizer)
    tok_hash = tokenizer_hash(tok)
    vocab = Vocab.from_tokenizer(tok)
    dtype = token_dtype(vocab.size)
    encoder = _encoder(tok)
    total = sum(p.stat().st_size for p in cfg.inputs)
    staging = Staging.open(cfg.store, _fingerprint(cfg, tok_hash, dtype))
    try:
        tok.save_pretrained(str(staging.root / TOKENIZER_DIR))
        _write_vocab(staging.root / VOCAB, vocab)
        parts = _Parts(staging, cfg.row_group_tokens)
        docs = iter_documents(cfg.inputs, cfg.text_field)
        progress = _progress(cfg.progress)
        with progress:
            if staging.resumed:
                progress.console.print(f"Resuming an interrupted build: {staging.n_docs:,} documents ({staging.n_tokens:,} tokens) already done.")
            task = progress.add_task("tokenize", total=total, docs=staging.n_docs, tokens=staging.n_tokens)
            progress.update(task, advance=_skip(docs, staging.n_docs))
            for batch in _batches(docs, cfg.batch_bytes):
                parts.add(batch, encoder([d.text for d in batch]))
                progress.update(task, advance=sum(d.nbytes for d in batch), docs=parts.n_docs, tokens=parts.n_tokens)
            parts.flush()
        content_hash = staging.merge(cfg.row_group_tokens)
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "tokenizer": {"name": tokenizer_name(cfg.tokenizer), "hash": tok_hash, "vocab_size": vocab.size, "family": vocab.family},
            "n_docs": staging.n_docs,
            "n_tokens": staging.n_tokens,
            "token_dtype": dtype,
            "content_hash": content_hash,
            "text_field": cfg.text_field,
            "inputs": [str(p.resolve()) for p in cfg.inputs],
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "tokrex_version": __version__,
        }
        atomic.write_json(staging.root / MANIFEST, manifest)
        staging.finish(cfg.store)
    except KeyboardInterrupt:
        raise  # the staging directory stays: the next run resumes from it
    except BaseException:
        staging.discard()
        raise
    return open_corpus(cfg.store)


def _encoder(tok: Any):
    """A function texts -> list of id lists, without special tokens, fast path when available."""
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(tok.backend_tokenizer.to_str())
    backend.encode_special_tokens = True  # "<|endoftext|>" in the text is text, not a special token
    backend.no_truncation()  # a tokenizer.json may ship truncation/padding (e.g. max_length 128): documents stay whole
    backend.no_padding()
    encode = getattr(backend, "encode_batch_fast", backend.encode_batch)

    def run(texts: list[str]) -> list[list[int]]:
        return [e.ids for e in encode(texts, add_special_tokens=False)]

    return run


def _write_vocab(path: Path, vocab: Any) -> None:
    import pyarrow.parquet as pq

    pq.write_table(vocab.to_arrow(), path, compression="zstd")


__all__ = ["CorpusConfig", "build_corpus", "token_dtype"]
