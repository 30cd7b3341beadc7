"""Per-document windows and the plan that groups them into shards and batches.

Each document is cut into consecutive windows of ``ctx`` tokens (the last may be
shorter); a window never spans two documents. Windows tile the corpus in order,
so a run of consecutive windows is a contiguous range of corpus positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Windows:
    """Window ``i`` covers corpus tokens ``starts[i] : starts[i] + lengths[i]``."""

    starts: np.ndarray
    """int64 global index of each window's first token, increasing."""
    lengths: np.ndarray
    """int64 number of corpus tokens in each window (1..ctx)."""

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def ends(self) -> np.ndarray:
        return self.starts + self.lengths

    def covering(self, start: int, stop: int) -> tuple[int, int]:
        """Indices ``[first, last)`` of the windows that overlap tokens ``[start, stop)``."""
        first = int(np.searchsorted(self.ends, start, side="right"))
        last = int(np.searchsorted(self.starts, stop, side="left"))
        return first, max(first, last)


def make_windows(doc_offsets: np.ndarray, ctx: int) -> Windows:
    """Cut every document ``[doc_offsets[d], doc_offsets[d+1])`` into windows of at most ``ctx`` tokens."""
    offsets = np.asarray(doc_offsets, dtype=np.int64)
    doc_len = np.diff(offsets)
    n_win = (doc_len + ctx - 1) // ctx
    total = int(n_win.sum())
    doc_of = np.repeat(np.arange(len(doc_len)), n_win)
    first_win = np.cumsum(n_win) - n_win
    k = np.arange(total, dtype=np.int64) - np.repeat(first_win, n_win)
    starts = offsets[:-1][doc_of] + k * ctx
    lengths = np.minimum(ctx, offsets[1:][doc_of] - starts)
    return Windows(starts=starts.astype(np.int64), lengths=lengths.astype(np.int64))


def plan_shards(windows: Windows, rows_per_shard: int) -> list[tuple[int, int]]:
    """Group consecutive windows into shards of about ``rows_per_shard`` rows.

    Returns ``(first_window, last_window)`` pairs (last exclusive). Boundaries fall
    between windows, so each shard is a contiguous token range.
    """
    if len(windows) == 0:
        return []
    cum = np.cumsum(windows.lengths)
    bounds = [0]
    while bounds[-1] < len(windows):
        done = int(cum[bounds[-1] - 1]) if bounds[-1] else 0
        nxt = int(np.searchsorted(cum, done + rows_per_shard, side="left")) + 1
        bounds.append(min(max(nxt, bounds[-1] + 1), len(windows)))
    return list(zip(bounds[:-1], bounds[1:]))


def length_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Indices into ``lengths`` grouped into batches of similar length (longest first), for little padding."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
