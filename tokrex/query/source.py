"""What ranking reads from an SAE's firings, and an in-memory implementation of it.

The query stage needs, from any firings source (the store's ``Firings`` or ``ArrayFirings``):
``n_tokens``, ``n_latents``, ``groups``, ``sae_id``; ``latents()`` (Arrow: latent, level, n_fires,
act_sum, act_sq_sum, ...); ``token_index()`` (CSR: ``offsets`` [n_tokens+1], ``latent``, ``act``);
``latent_index()`` (CSC: ``offsets`` [n_latents+1], ``token``, ``act``); and, for the DuckDB
engine, a connection with ``firings(token, latent, act)`` and ``latents(...)`` views.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


class FiringsSource(Protocol):
    """The firings of one SAE over one corpus, as the query stage reads them."""

    sae_id: str
    n_tokens: int
    n_latents: int
    groups: list[int]

    def latents(self) -> Any: ...

    def token_index(self) -> Any: ...

    def latent_index(self) -> Any: ...


@dataclass
class TokenIndex:
    """Token-major rows: token t's firings are ``latent[offsets[t]:offsets[t+1]]`` (and ``act``)."""

    offsets: np.ndarray
    """int64 [n_tokens + 1]."""
    latent: np.ndarray
    """Latent id of each row."""
    act: np.ndarray
    """Activation of each row (> 0)."""


@dataclass
class LatentIndex:
    """Latent-major rows: latent l fires on ``token[offsets[l]:offsets[l+1]]`` (sorted) with ``act``."""

    offsets: np.ndarray
    """int64 [n_latents + 1]."""
    token: np.ndarray
    """Global token index of each row, sorted within each latent."""
    act: np.ndarray
    """Activation of each row (> 0)."""


def levels(groups: list[int], n_latents: int) -> np.ndarray:
    """Matryoshka level of every latent: index of the first group end above it."""
    ends = np.asarray(list(groups) or [n_latents], dtype=np.int64)
    return np.searchsorted(ends, np.arange(n_latents), side="right").astype(np.int32)


class ArrayFirings:
    """Firings held in memory: built from (token, latent, act) triples or a dense activation matrix.

    Used by tests and by anyone ranking activations they computed themselves.
    """

    def __init__(
        self,
        token: np.ndarray,
        latent: np.ndarray,
        act: np.ndarray,
        n_tokens: int,
        n_latents: int,
        groups: list[int] | None = None,
        sae_id: str = "0" * 16,
    ):
        token = np.asarray(token, dtype=np.int64)
        latent = np.asarray(latent, dtype=np.int32)
        act = np.asarray(act)
        keep = act > 0
        token, latent, act = token[keep], latent[keep], act[keep]
        order = np.lexsort((latent, token))
        self._token, self._latent, self._act = token[order], latent[order], act[order]
        self.n_tokens = int(n_tokens)
        self.n_latents = int(n_latents)
        self.groups = list(groups) if groups else [self.n_latents]
        self.sae_id = sae_id

    @classmethod
    def from_dense(cls, acts: np.ndarray, groups: list[int] | None = None, sae_id: str = "0" * 16) -> ArrayFirings:
        """From a dense [n_tokens, n_latents] activation matrix (zeros are silent)."""
        acts = np.asarray(acts)
        token, latent = np.nonzero(acts > 0)
        return cls(token, latent, acts[token, latent], acts.shape[0], acts.shape[1], groups, sae_id)

    def table(self):
        """The firings as an Arrow table ``token, latent, act`` sorted by token."""
        import pyarrow as pa

        # float32: DuckDB does not scan Arrow half floats (exact: every float16 is a float32).
        return pa.table({"token": self._token, "latent": self._latent, "act": self._act.astype(np.float32)})

    def latents(self):
        import pyarrow as pa

        n = self.n_latents
        a = self._act.astype(np.float64)
        n_fires = np.bincount(self._latent, minlength=n).astype(np.int64)
        act_max = np.zeros(n)
        np.maximum.at(act_max, self._latent, a)
        return pa.table(
            {
                "latent": np.arange(n, dtype=np.int32),
                "level": levels(self.groups, n),
                "n_fires": n_fires,
                "act_sum": np.bincount(self._latent, weights=a, minlength=n),
                "act_sq_sum": np.bincount(self._latent, weights=a * a, minlength=n),
                "act_max": act_max,
            }
        )

    def _col_order(self) -> np.ndarray:
        return np.lexsort((self._token, self._latent))

    def _col_offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(np.bincount(self._latent, minlength=self.n_latents))]).astype(np.int64)

    def token_index(self) -> TokenIndex:
        counts = np.bincount(self._token, minlength=self.n_tokens)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return TokenIndex(offsets, self._latent, self._act)

    def latent_index(self) -> LatentIndex:
        order = self._col_order()
        return LatentIndex(self._col_offsets(), self._token[order], self._act[order])

    def connect(self):
        """A DuckDB connection with ``firings`` and ``latents`` views over these arrays."""
        import duckdb

        con = duckdb.connect()
        con.register("firings", self.table())
        con.register("latents", self.latents())
        return con
