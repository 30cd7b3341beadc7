"""The padded corpus layout the matcher works on.

Documents are laid end to end with one sentinel token before each document and one after the
last: ``S d0 S d1 S ... S``.  The sentinel matches no atom (not even ``.``), so nothing a
pattern consumes can cross from one document into the next, and the boundaries of different
documents are distinct.  Boundary ``b`` (0..M) sits between padded tokens ``b-1`` and ``b``.

Per-vocabulary tables (core-text ids, word-character tests) live in ``VocabTables`` and are
computed once per vocabulary.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import regex

from tokrex.corpus import Vocab

_WORD = regex.compile(r"\w")


@dataclass
class VocabTables:
    """Per-token-id facts the matcher needs, each with one extra False entry for the sentinel."""

    vocab: Vocab
    core_id: np.ndarray = field(init=False)
    """Canonical id of each token's core text (equal cores share an id); -1 for the sentinel."""
    word_start: np.ndarray = field(init=False)
    surface_word: np.ndarray = field(init=False)
    """Surface text begins with a word character."""
    core_word_head: np.ndarray = field(init=False)
    """Core text begins with a word character."""
    core_word_tail: np.ndarray = field(init=False)
    """Core text ends with a word character."""

    def __post_init__(self) -> None:
        v = self.vocab
        ids: dict[str, int] = {}
        self.core_id = np.fromiter((ids.setdefault(c, len(ids)) for c in v.core), dtype=np.int64, count=v.size)
        self.core_id = np.append(self.core_id, -1)
        self.word_start = np.append(np.asarray(v.word_start, dtype=bool), False)

        def flags(texts, pick):
            return np.append(np.fromiter((bool(_WORD.match(pick(t))) for t in texts), dtype=bool, count=v.size), False)

        self.surface_word = flags(v.surface, lambda t: t[:1])
        self.core_word_head = flags(v.core, lambda t: t[:1])
        self.core_word_tail = flags(v.core, lambda t: t[-1:])


def vocab_tables(vocab: Vocab) -> VocabTables:
    """The tables for ``vocab``, built once and kept on the vocabulary object."""
    tables = getattr(vocab, "_tokrex_tables", None)
    if tables is None:
        tables = VocabTables(vocab)
        try:
            object.__setattr__(vocab, "_tokrex_tables", tables)
        except (AttributeError, TypeError):
            pass
    return tables


class Layout:
    """Token ids of a corpus laid out with sentinels; see the module docstring."""

    def __init__(self, ids: np.ndarray, doc_offsets: np.ndarray, tables: VocabTables):
        ids = np.asarray(ids)
        offsets = np.asarray(doc_offsets, dtype=np.int64)
        if offsets.ndim != 1 or offsets.size == 0 or offsets[0] != 0 or offsets[-1] != ids.size:
            raise ValueError("doc_offsets must start at 0 and end at len(ids)")
        if np.any(np.diff(offsets) < 0):
            raise ValueError("doc_offsets must be non-decreasing")
        size = tables.vocab.size
        if ids.size and (int(ids.max()) >= size or (ids.dtype.kind == "i" and int(ids.min()) < 0)):
            raise ValueError(f"token ids must lie in 0..{size - 1} (the vocabulary size is {size})")
        self.tables = tables
        self.offsets = offsets
        self.n_tokens = int(ids.size)
        self.n_docs = int(offsets.size - 1)
        self.M = self.n_tokens + self.n_docs + 1
        self.sentinel = size
        self.sentinels = offsets + np.arange(self.n_docs + 1)
        """Padded index of the sentinel before document d (and after the last one)."""
        dtype = np.uint16 if size + 1 < 2**16 else np.uint32 if size + 1 < 2**32 else np.uint64
        is_token = np.ones(self.M, dtype=bool)
        is_token[self.sentinels] = False
        pad = np.full(self.M, size, dtype=dtype)
        pad[is_token] = ids
        self.ids = pad
        self.is_token = is_token
        """(M,) True at real tokens, False at sentinels."""

    # ---- boundary and token masks -----------------------------------------------------------
    @cached_property
    def doc_start(self) -> np.ndarray:
        """(M+1,) boundaries that start a document."""
        out = np.zeros(self.M + 1, dtype=bool)
        out[self.sentinels[:-1] + 1] = True
        return out

    @cached_property
    def doc_end(self) -> np.ndarray:
        """(M+1,) boundaries that end a document."""
        out = np.zeros(self.M + 1, dtype=bool)
        out[self.sentinels[1:]] = True
        return out

    def gather(self, vocab_mask: np.ndarray) -> np.ndarray:
        """(M,) per-position values of a per-vocabulary array with a sentinel entry."""
        return vocab_mask[self.ids]

    def pad(self, values: np.ndarray, fill=False) -> np.ndarray:
        """A per-corpus-token array laid out on padded positions."""
        out = np.full(self.M, fill, dtype=values.dtype)
        out[self.is_token] = values
        return out

    # ---- word structure ---------------------------------------------------------------------
    @cached_property
    def joins(self) -> np.ndarray:
        """(M,) the token joins the previous token of its document."""
        t = self.tables
        out = ~t.word_start[self.ids] & t.surface_word[self.ids]
        out[1:] &= t.core_word_tail[self.ids[:-1]]
        out[0] = False
        return out

    @cached_property
    def begins_word(self) -> np.ndarray:
        """(M,) the token begins a word."""
        return self.tables.core_word_head[self.ids] & ~self.joins

    @cached_property
    def word_end(self) -> np.ndarray:
        """(M,) for each token, the boundary where the run of tokens joined to it ends."""
        dtype = np.int32 if self.M < 2**31 - 1 else np.int64  # half the memory of int64 arrays
        nxt = np.arange(self.M, dtype=dtype)
        nxt[self.joins] = self.M
        rev = nxt[::-1]
        np.minimum.accumulate(rev, out=rev)  # nxt[p]: first non-joining token at or after p
        out = np.empty(self.M, dtype=dtype)
        out[:-1] = nxt[1:]
        out[-1] = self.M
        return out

    @cached_property
    def core_ids(self) -> np.ndarray:
        """(M,) canonical core-text id per position (-1 at sentinels)."""
        return self.tables.core_id[self.ids]

    # ---- back to corpus coordinates ---------------------------------------------------------
    @cached_property
    def doc_of(self) -> np.ndarray:
        """(M,) document index of each padded position (a sentinel counts with the next document)."""
        return (np.cumsum(~self.is_token, dtype=np.int32) - 1).astype(np.int32)

    def token_indices(self, mask: np.ndarray) -> np.ndarray:
        """Global token indices (ascending) of the padded positions set in the (M,) ``mask``."""
        return np.flatnonzero(mask[self.is_token])

    def locate(self, padded: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For padded token positions: (doc, position within doc, global index)."""
        padded = np.asarray(padded, dtype=np.int64)
        if padded.size > self.M // 64:
            doc = self.doc_of[padded].astype(np.int64)
        else:
            doc = np.searchsorted(self.sentinels, padded, side="right") - 1
        global_index = padded - doc - 1  # one sentinel before each document
        return doc, global_index - self.offsets[doc], global_index


_CACHE: list = []


def layout_for(ids: np.ndarray, doc_offsets: np.ndarray, tables: VocabTables) -> Layout:
    """A Layout for these arrays, reused while the same array objects are passed again."""
    for ref_ids, ref_offsets, ref_tables, layout in _CACHE:
        if ref_ids() is ids and ref_offsets() is doc_offsets and ref_tables is tables:
            return layout
    layout = Layout(ids, doc_offsets, tables)
    try:
        _CACHE[:] = [(weakref.ref(ids), weakref.ref(doc_offsets), tables, layout)]
    except TypeError:
        pass
    return layout
