"""Keyword-in-context rows for displaying matches: left context, the match, right context.

Only the rows that are shown are rendered, so the cost does not grow with the corpus.
Text comes from the vocabulary (``Vocab.text``): the tokens' surfaces joined.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tokrex.corpus.store import Corpus

# Control characters made visible in one-line displays.
_VISIBLE = str.maketrans({"\n": "↵", "\r": "␍", "\t": "⇥", "\x0b": "␋", "\x0c": "␌"})


def visible(text: str) -> str:
    """One-line form of a text: newline as ↵, carriage return ␍, tab ⇥."""
    return text.translate(_VISIBLE)


@dataclass(frozen=True)
class KwicRow:
    """One match in context."""

    doc: int
    """Document number."""
    start: int
    """First token of the match, 0-based within the document."""
    end: int
    """One past the last token of the match."""
    left: str
    """Text of up to ``context`` tokens before the match (same document only)."""
    parts: list[tuple[str, bool]]
    """The match text in runs, each flagged True when its tokens are positives."""
    right: str
    """Text of up to ``context`` tokens after the match."""
    last_only: bool = True
    """The match's only positive is its last token (the default when a pattern has no ``@``)."""

    @property
    def text(self) -> str:
        return "".join(t for t, _ in self.parts)


def _runs(flags: np.ndarray) -> list[tuple[int, int, bool]]:
    bounds = [0, *(np.flatnonzero(np.diff(flags.astype(np.int8))) + 1).tolist(), len(flags)]
    return [(a, b, bool(flags[a])) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def kwic_rows(
    corpus: Corpus, doc: np.ndarray, start: np.ndarray, end: np.ndarray,
    positives: np.ndarray | None = None, context: int = 10,
) -> list[KwicRow]:
    """Rows for the given matches (document, start, end); ``positives`` are sorted global token
    indices, used to flag positive tokens inside each match."""
    ids, offsets, vocab = corpus.ids, corpus.doc_offsets, corpus.vocab
    rows = []
    for d, s, e in zip(np.asarray(doc).tolist(), np.asarray(start).tolist(), np.asarray(end).tolist()):
        base, limit = int(offsets[d]), int(offsets[d + 1])
        gs, ge = base + s, base + e
        flags = np.zeros(ge - gs, dtype=bool)
        if positives is not None and len(positives):
            lo, hi = np.searchsorted(positives, [gs, ge])
            flags[positives[lo:hi] - gs] = True
        parts = [(vocab.text(ids[gs + a : gs + b]), f) for a, b, f in _runs(flags)]
        left = vocab.text(ids[max(base, gs - context) : gs])
        right = vocab.text(ids[ge : min(limit, ge + context)])
        last_only = bool(flags[-1]) and int(flags.sum()) == 1 if len(flags) else True
        rows.append(KwicRow(d, s, e, left, parts, right, last_only))
    return rows


def match_texts(corpus: Corpus, doc: np.ndarray, start: np.ndarray, end: np.ndarray) -> list[str]:
    """The text of each match (its tokens' surfaces joined)."""
    ids, offsets, vocab = corpus.ids, corpus.doc_offsets, corpus.vocab
    base = offsets[np.asarray(doc, dtype=np.int64)]
    gs = (base + np.asarray(start, dtype=np.int64)).tolist()
    ge = (base + np.asarray(end, dtype=np.int64)).tolist()
    return [vocab.text(ids[a:b]) for a, b in zip(gs, ge)]
