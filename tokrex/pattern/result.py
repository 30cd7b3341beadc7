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
