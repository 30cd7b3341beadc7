"""Training data: activation rows in shuffled batches, reproducible from (seed, position).

The used corpus range is split into a training part ``[0, n_train)`` and a held-out slice
right after it. Training rows are cut into blocks; an epoch visits the blocks in a seeded
random order (from the cache) or in corpus order (streaming from the model); a *round*
loads a shuffle buffer of consecutive blocks of that order, permutes its rows with a
seeded generator and yields full batches. A data position is ``(round, batch)``, so a
resumed run regenerates exactly the batches it would have seen.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Iterator

import torch

from tokrex.activations import ActivationConfig, build_cache, iter_activations
from tokrex.errors import SaeError

BUFFER_BYTES = 512 << 20
CACHE_BLOCK = 8192


@dataclass(frozen=True)
class Split:
    """Which corpus tokens train and which are held out."""

    n_train: int
    hold_start: int
    hold_stop: int

    @classmethod
    def plan(cls, n_tokens: int, tokens: int, holdout: int) -> "Split":
        hold = min(holdout, n_tokens // 10)
        n_train = min(tokens, n_tokens - hold)
        return cls(n_train=n_train, hold_start=n_train, hold_stop=n_train + hold)


def choose_mode(mode: str, corpus, split: Split, d_model: int) -> str:
    """``cache`` or ``stream``: auto streams when the cache would take over 80% of the free disk."""
    if mode != "auto":
        return mode
    need = split.hold_stop * d_model * 2
    free = shutil.disk_usage(corpus.path).free
    return "cache" if need <= 0.8 * free else "stream"


class RowSource:
    """Reads activation rows ``[start, stop)`` from the cache (built on demand) or from the model."""

    def __init__(self, corpus, act_cfg: ActivationConfig, mode: str, stop_token: int, *, progress: bool = True):
        self.corpus, self.cfg, self.mode = corpus, act_cfg, mode
        self.cache = build_cache(corpus, act_cfg, stop_token=stop_token, progress=progress) if mode == "cache" else None
        self.model = None

    def read(self, start: int, stop: int) -> torch.Tensor:
        if self.cache is not None:
            return self.cache.read(start, stop)
        if self.model is None:
            from tokrex.activations import load_model

            self.model = load_model(self.cfg.model, self.cfg.device)
        parts = [rows for _, rows in iter_activations(self.corpus, self.cfg, start, stop_token=stop,
                                                      model=self.model, dtype=self.cfg.torch_dtype())]
        return torch.cat(parts) if parts else torch.zeros(0, self.model.d_model, dtype=self.cfg.torch_dtype())


class Batches:
    """Shuffled training batches, addressable by ``(round, batch)``."""

    def __init__(self, source: RowSource, split: Split, batch_size: int, buffer_rows: int, seed: int):
        if split.n_train < batch_size:
            raise SaeError(
                f"The corpus gives only {split.n_train} training activations, fewer than one batch of {batch_size}; "
                "lower --batch-size or use a larger corpus."
            )
        self.source, self.split, self.batch_size, self.seed = source, split, batch_size, seed
        self.block = min(CACHE_BLOCK, buffer_rows) if source.mode == "cache" else buffer_rows
        self.n_blocks = -(-split.n_train // self.block)
        self.per_round = max(1, buffer_rows // self.block)
        self.rounds_per_epoch = -(-self.n_blocks // self.per_round)
        self._memo: tuple[int, torch.Tensor] | None = None

    def _gen(self, salt: int) -> torch.Generator:
        return torch.Generator().manual_seed((self.seed * 1_000_003 + salt) % (2**63))

    def _ranges(self, r: int) -> list[tuple[int, int]]:
        epoch, j = divmod(r, self.rounds_per_epoch)
        if self.source.mode == "cache":
            order = torch.randperm(self.n_blocks, generator=self._gen(-1 - epoch)).tolist()
        else:
            order = list(range(self.n_blocks))
        blocks = sorted(order[j * self.per_round : (j + 1) * self.per_round])
        ranges: list[tuple[int, int]] = []
        for b in blocks:
            lo, hi = b * self.block, min((b + 1) * self.block, self.split.n_train)
            if ranges and ranges[-1][1] == lo:
                ranges[-1] = (ranges[-1][0], hi)
            else:
                ranges.append((lo, hi))
        return ranges

    def round_rows(self, r: int) -> torch.Tensor:
        """The shuffled rows of round ``r`` (in the cache dtype, CPU); the last one is kept in memory."""
        if self._memo is not None and self._memo[0] == r:
            return self._memo[1]
        rows = torch.cat([self.source.read(lo, hi) for lo, hi in self._ranges(r)])
        rows = rows[torch.randperm(len(rows), generator=self._gen(r))]
        self._memo = (r, rows)
        return rows

    def iterate(self, r: int = 0, skip: int = 0) -> Iterator[tuple[int, int, torch.Tensor]]:
        """Yield ``(round, batch_index, rows)`` forever, starting at round ``r`` after ``skip`` batches."""
        while True:
            rows, used = self.round_rows(r), 1
            if len(rows) < self.batch_size:  # a short last round borrows the next one
                rows, used = torch.cat([rows, self.round_rows(r + 1)]), 2
            for b in range(skip, len(rows) // self.batch_size):
                yield r, b, rows[b * self.batch_size : (b + 1) * self.batch_size]
            r, skip = r + used, 0

    def holdout(self) -> torch.Tensor:
        return self.source.read(self.split.hold_start, self.split.hold_stop)


def buffer_rows(cfg_buffer: int | None, d_model: int, batch_size: int) -> int:
    rows = cfg_buffer or max(batch_size, BUFFER_BYTES // (2 * d_model))
    return max(rows, batch_size)
