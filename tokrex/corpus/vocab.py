"""The normalized vocabulary table: piece, surface, core and word_start for every token id."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from tokrex.corpus.arrays import bool_numpy, column_numpy
from tokrex.corpus.pieces import decode_stable


@dataclass
class Vocab:
    """One entry per token id (index = id).

    ``surface`` is the token's text with a word-start marker (GPT-2 ``Ġ``, SentencePiece ``▁``,
    a WordPiece token without ``##``) turned into exactly one leading space; ``core`` is the
    surface minus that one leading space; ``word_start`` tells whether the token begins a word.
    See ``docs/store.md`` for each tokenizer family.
    """

    piece: list[str]
    """The token as the tokenizer stores it."""
    surface: list[str]
    """Normalized text, word-start marker as one leading space."""
    core: list[str]
    """Surface without the leading word-start space."""
    word_start: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    """Boolean flag per token: the token begins a word."""
    data: list[bytes] | None = None
    """Optional: the bytes each token stands for, so that tokens holding part of a UTF-8
    character join into the right text for display; None means the surfaces' UTF-8."""
    family: str = "plain"
    """How the tokenizer marks word starts: byte_level, metaspace, wordpiece or plain."""

    def __post_init__(self) -> None:
        self.word_start = np.asarray(self.word_start, dtype=bool)
        n = len(self.piece)
        if not (len(self.surface) == len(self.core) == len(self.word_start) == n):
            raise ValueError("piece, surface, core and word_start must have one entry per token id")
        if self.data is not None and len(self.data) != n:
            raise ValueError("data must have one entry per token id")

    @property
    def size(self) -> int:
        return len(self.piece)

    def __len__(self) -> int:
        return len(self.piece)

    # -- building -----------------------------------------------------------------------------

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> "Vocab":
        """The normalized table of a HF fast tokenizer or a ``tokenizers.Tokenizer``."""
        from tokrex.corpus.pieces import normalize_vocab
        from tokrex.corpus.tokenizer import backend_spec

        backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
        spec = backend_spec(backend)
        vocab = backend.get_vocab(with_added_tokens=True)
        size = max(vocab.values(), default=-1) + 1
        pieces: list[str | None] = [None] * size
        for piece, i in vocab.items():
            pieces[i] = piece
        added = {int(i): (t.content, bool(t.special)) for i, t in backend.get_added_tokens_decoder().items()}
        family, norm = normalize_vocab(spec, pieces, added)
        return cls(
            piece=[p if p is not None else "" for p in pieces],
            surface=[n.surface for n in norm],
            core=[n.core for n in norm],
            word_start=np.fromiter((n.word_start for n in norm), dtype=bool, count=size),
            data=[n.data for n in norm],
            family=family,
        )

    # -- Arrow round trip ---------------------------------------------------------------------

    def to_arrow(self) -> Any:
        """A pyarrow Table: id uint32, piece, surface, core (string), word_start (bool), data (binary)."""
        import pyarrow as pa

        data = self.data if self.data is not None else [s.encode("utf-8") for s in self.surface]
        table = pa.table(
            {
                "id": pa.array(np.arange(self.size, dtype=np.uint32)),
                "piece": pa.array(self.piece, pa.string()),
                "surface": pa.array(self.surface, pa.string()),
                "core": pa.array(self.core, pa.string()),
                "word_start": pa.array(self.word_start, pa.bool_()),
                "data": pa.array(data, pa.binary()),
            }
        )
        return table.replace_schema_metadata({"family": self.family})

    @classmethod
    def from_arrow(cls, table: Any) -> "Vocab":
        """Inverse of ``to_arrow``; rows may come in any order but ids must be 0..n-1."""
        missing = {"id", "piece", "surface", "core", "word_start"} - set(table.column_names)
        if missing:
            raise ValueError(f"vocabulary table lacks column(s) {', '.join(sorted(missing))}")
        ids_col = table.column("id")
        ids = column_numpy(ids_col, str(ids_col.type)).astype(np.int64)
        if not np.array_equal(ids, np.arange(len(ids))):
            table = table.take(np.argsort(ids, kind="stable"))  # rows in another order (stored ones come sorted)
            ids = np.sort(ids)
            if not np.array_equal(ids, np.arange(len(ids))):
                raise ValueError("vocabulary ids must be 0..n-1 without gaps or repeats")
        meta = table.schema.metadata or {}
        word_start = bool_numpy(table.column("word_start"))
        return cls(
            piece=table.column("piece").to_pylist(),
            surface=table.column("surface").to_pylist(),
            core=table.column("core").to_pylist(),
            word_start=word_start,
            data=table.column("data").to_pylist() if "data" in table.column_names else None,
            family=meta.get(b"family", b"plain").decode(),
        )

    # -- display ------------------------------------------------------------------------------

    def text(self, ids: Sequence[int] | np.ndarray) -> str:
        """The text of a run of tokens: their bytes joined and decoded (invalid bytes as ``<0xHH>``).

        Equals the surfaces joined whenever each token is valid UTF-8 on its own.
        """
        if self.data is None:
            return "".join(self.surface[int(i)] for i in ids)
        return decode_stable(b"".join(self.data[int(i)] for i in ids))
