"""Small hand-made vocabularies and corpora for the pattern tests.

A corpus is written one document per line, tokens separated by ``|`` with a token's leading
space kept literally (a leading space marks a word start, as GPT-2's ``Ġ`` does):

    Alice| met| Bob| in| Mass|ach|usetts|.

Every distinct token text becomes a vocabulary entry (ids in order of first appearance).
"""

from __future__ import annotations

import numpy as np

from tokrex.corpus import Vocab


def make_vocab(surfaces: list[str]) -> Vocab:
    """A Vocab whose entries have these surface texts (leading space = word start)."""
    word_start = [s.startswith(" ") for s in surfaces]
    core = [s[1:] if ws else s for s, ws in zip(surfaces, word_start)]
    piece = [("Ġ" + c) if ws else c for c, ws in zip(core, word_start)]
    return Vocab(piece=piece, surface=list(surfaces), core=core, word_start=np.array(word_start, dtype=bool))


def parse_corpus(text: str, extra: list[str] = ()) -> tuple[Vocab, np.ndarray, np.ndarray]:
    """(vocab, ids, doc_offsets) from the one-document-per-line ``|`` format."""
    surfaces: dict[str, int] = {}
    docs: list[list[int]] = []
    for line in text.strip("\n").split("\n"):
        tokens = line.split("|") if line else []
        docs.append([surfaces.setdefault(t, len(surfaces)) for t in tokens])
    for t in extra:
        surfaces.setdefault(t, len(surfaces))
    vocab = make_vocab(list(surfaces))
    ids = np.array([i for d in docs for i in d], dtype=np.uint16)
    offsets = np.cumsum([0] + [len(d) for d in docs]).astype(np.int64)
    return vocab, ids, offsets


def show_positions(vocab: Vocab, ids: np.ndarray, offsets: np.ndarray, positives) -> str:
    """``doc:pos core`` for each global position, comma separated (the form golden files use)."""
    out = []
    for g in positives:
        d = int(np.searchsorted(offsets, g, side="right") - 1)
        out.append(f"{d}:{int(g - offsets[d])} {vocab.core[int(ids[g])]}")
    return ", ".join(out)


# A tiny vocabulary for random tests: word starts, continuations, punctuation, case variants.
RANDOM_SURFACES = [" a", "a", " b", "b", " A", "B", ",", " ,", "ab", " ab", "1", " 1"]
RANDOM_VOCAB = make_vocab(RANDOM_SURFACES)
