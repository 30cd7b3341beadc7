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
        out = []
        for n in np.unique(lengths):
            pos = self.starts[lengths == n]
            rows = np.stack([lay.ids[pos + k] for k in range(int(n))], axis=1).astype(np.int64)
            distinct, inverse = np.unique(rows, axis=0, return_inverse=True)
            texts = [vocab.core[r[0]] + "".join(vocab.surface[t] for t in r[1:]) for r in distinct.tolist()]
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


def word_index(layout: Layout) -> WordIndex:
    """The word index of ``layout``, built once per layout."""
    index = layout.__dict__.get("_words")
    if index is None:
        index = layout.__dict__["_words"] = WordIndex(layout)
    return index
