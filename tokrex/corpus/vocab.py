"""The normalized vocabulary table: piece, surface, core and word_start for every token id."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Vocab:
    """One entry per token id (index = id).

    ``surface`` is the token's text with a word-start marker (GPT-2 ``Ġ``, SentencePiece ``▁``,
    a WordPiece token without ``##``) turned into exactly one leading space; ``core`` is the
    surface minus that one leading space; ``word_start`` tells whether the token begins a word.
    """

    piece: list[str]
    """The token as the tokenizer stores it."""
    surface: list[str]
    """Normalized text, word-start marker as one leading space."""
    core: list[str]
    """Surface without the leading word-start space."""
    word_start: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    """Boolean flag per token: the token begins a word."""

    def __post_init__(self) -> None:
        self.word_start = np.asarray(self.word_start, dtype=bool)
        n = len(self.piece)
        if not (len(self.surface) == len(self.core) == len(self.word_start) == n):
            raise ValueError("piece, surface, core and word_start must have one entry per token id")

    @property
    def size(self) -> int:
        return len(self.piece)

    def __len__(self) -> int:
        return len(self.piece)
