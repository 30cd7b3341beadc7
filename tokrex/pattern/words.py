"""Word atoms: which word starts carry a word whose text fullmatches a regex.

A word is a maximal run of joined tokens whose first token's core begins with a word
character; its text is the first token's core followed by the other tokens' surfaces.  The
regex runs once per distinct word (distinct token-id sequence), never once per position.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import regex

from tokrex.pattern.layout import Layout


@dataclass
class WordIndex:
    """The corpus's word starts grouped into distinct words."""

    layout: Layout

    @cached_property
    def starts(self) -> np.ndarray:
        """Padded positions where a word begins."""
        return np.flatnonzero(self.layout.begins_word)

    @cached_property
    def groups(self) -> list[tuple[np.ndarray, np.ndarray, list[str]]]:
        """Per word length: (start positions, index of each start's distinct word, distinct texts)."""
        lay = self.layout
        vocab = lay.tables.vocab
        lengths = lay.word_end[self.starts] - self.starts
        base = vocab.size + 1
        counts = np.bincount(lengths) if lengths.size else np.zeros(1, dtype=np.int64)
        small = lengths.astype(np.uint16) if counts.size <= 1 << 16 else lengths
        by_length = self.starts[np.argsort(small, kind="stable")]  # radix sort for uint16
        ends = np.cumsum(counts)
        out = []
        for n in np.flatnonzero(counts):
            pos = by_length[ends[n] - counts[n] : ends[n]]
            # One int64 key per word (its token ids in base `base`), made dense again whenever the
            # next digit could overflow: a 1-D unique, far faster than np.unique(rows, axis=0).
            key = lay.ids[pos].astype(np.int64)
            bound = base
            for k in range(1, int(n)):
                if bound * base >= 2**62:
                    _, key = np.unique(key, return_inverse=True)
                    key = key.ravel().astype(np.int64)
                    bound = int(key.max()) + 1
                key = key * base + lay.ids[pos + k]
                bound *= base
            first, inverse = _distinct(key, bound)
            rows = np.stack([lay.ids[pos[first] + k] for k in range(int(n))], axis=1).tolist()
            texts = [vocab.core[r[0]] + "".join(vocab.surface[t] for t in r[1:]) for r in rows]
            out.append((pos, inverse.ravel(), texts))
        return out

    def match(self, source: str, flags: str) -> np.ndarray:
        """(M,) True at word starts whose word fullmatches ``source``."""
        rx = regex.compile(source, regex.IGNORECASE if "i" in flags else 0)
        out = np.zeros(self.layout.M, dtype=bool)
        for pos, inverse, texts in self.groups:
            ok = np.fromiter((rx.fullmatch(t) is not None for t in texts), dtype=bool, count=len(texts))
            out[pos[ok[inverse]]] = True
        return out


def _distinct(key: np.ndarray, bound: int) -> tuple[np.ndarray, np.ndarray]:
    """(index of the first occurrence of each distinct key, ascending by key; index of each
    element's key among them), for int64 keys in [0, bound)."""
    if bound <= max(4 * key.size, 1 << 16):  # small key range: linear passes, no sort
        first_at = np.full(bound, key.size, dtype=np.int64)
        np.minimum.at(first_at, key, np.arange(key.size, dtype=np.int64))
        present = first_at < key.size
        rank = np.cumsum(present) - 1
        return first_at[present], rank[key]
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return first, inverse.ravel()


def word_index(layout: Layout) -> WordIndex:
    """The word index of ``layout``, built once per layout."""
    index = layout.__dict__.get("_words")
    if index is None:
        index = layout.__dict__["_words"] = WordIndex(layout)
    return index
