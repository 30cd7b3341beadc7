"""What a compiled pattern returns: positives and longest match spans, as numpy and Arrow."""

from __future__ import annotations

from typing import Callable

import numpy as np

Spans = tuple[np.ndarray, np.ndarray, np.ndarray]


class MatchResult:
    """Positives (global token indices) and one longest span per distinct (document, end).

    ``match_doc``/``match_start``/``match_end`` are computed on first access (a second pass
    over the corpus); ``positives`` is ready at once.
    """

    def __init__(self, positives: np.ndarray, doc_offsets: np.ndarray, spans: Callable[[], Spans] | Spans):
        self.positives = np.asarray(positives, dtype=np.int64)
        self.doc_offsets = np.asarray(doc_offsets, dtype=np.int64)
        self._spans = spans
        self._last_tokens: Callable[[], np.ndarray] | np.ndarray | None = None
        """Global index of each match's last token, ascending (the positives when the pattern
        has no ``@``); lets ``n_matches`` and ``head`` skip the full span pass."""
        self._rerun: Callable[[int], "MatchResult"] | None = None
        """The same pattern run over documents 0..d only (for ``head``)."""

    def _ends(self) -> np.ndarray | None:
        if callable(self._last_tokens):
            self._last_tokens = np.asarray(self._last_tokens(), dtype=np.int64)
        return self._last_tokens

    def head(self, k: int) -> Spans:
        """(doc, start, end) of the first ``k`` matches (in (doc, end) order), computing spans
        only over the documents that hold them when the full spans are not needed otherwise."""
        k = max(int(k), 0)
        ends = None if not callable(self._spans) else self._ends()
        if ends is not None and self._rerun is not None:
            k = min(k, ends.size)
            if k == 0:
                empty = np.zeros(0, dtype=np.int64)
                return empty, empty, empty
            d = int(np.searchsorted(self.doc_offsets, ends[k - 1], side="right") - 1)
            if 4 * int(self.doc_offsets[d + 1]) < int(self.doc_offsets[-1]):  # a small prefix: rerun there
                sub = self._rerun(d)
                sub._rerun = None
                return sub.match_doc[:k], sub.match_start[:k], sub.match_end[:k]
        return self.match_doc[:k], self.match_start[:k], self.match_end[:k]

    def _load(self) -> Spans:
        if callable(self._spans):
            doc, start, end = (np.asarray(a, dtype=np.int64) for a in self._spans())
            if doc.size > 1 and not np.all((np.diff(doc) > 0) | ((np.diff(doc) == 0) & (np.diff(end) > 0))):
                order = np.lexsort((end, doc))
                doc, start, end = doc[order], start[order], end[order]
            self._spans = (doc, start, end)
        return self._spans

    @property
    def match_doc(self) -> np.ndarray:
        return self._load()[0]

    @property
    def match_start(self) -> np.ndarray:
        """Start of the longest match ending at each end, 0-based within the document."""
        return self._load()[1]

    @property
    def match_end(self) -> np.ndarray:
        """End (exclusive) within the document."""
        return self._load()[2]

    @property
    def n_matches(self) -> int:
        """Distinct (document, end) pairs."""
        if callable(self._spans):
            ends = self._ends()
            if ends is not None:
                return int(ends.size)
        return int(self.match_end.size)

    @property
    def n_positives(self) -> int:
        return int(self.positives.size)

    @property
    def positives_doc(self) -> np.ndarray:
        return np.searchsorted(self.doc_offsets, self.positives, side="right") - 1

    @property
    def positives_pos(self) -> np.ndarray:
        """Position of each positive within its document."""
        return self.positives - self.doc_offsets[self.positives_doc]

    def positives_table(self):
        """Arrow table: token (global index), doc, pos (within the document)."""
        import pyarrow as pa

        return pa.table({"token": self.positives, "doc": self.positives_doc, "pos": self.positives_pos})

    def matches_table(self):
        """Arrow table: doc, start, end (end exclusive), one row per distinct (doc, end)."""
        import pyarrow as pa

        return pa.table({"doc": self.match_doc, "start": self.match_start, "end": self.match_end})

    def __repr__(self) -> str:
        return f"MatchResult(n_positives={self.n_positives})"
