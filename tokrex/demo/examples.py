"""The demo's example searches, chosen for an uncased WordPiece tokenizer on Python's documentation.

all-MiniLM-L6-v2 lowercases its input and splits punctuation into tokens of their own, so
capitalization patterns cannot work with it, and ``"``, ``_`` and ``.`` are separate tokens.
Each example was checked against the corpus with ``tokrex match --count``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Example:
    """One example search of the demo."""

    title: str
    """A few words naming the concept."""
    pattern: str
    """The token-regex pattern (docs/language.md)."""
    note: str
    """One sentence on what the pattern marks."""


EXAMPLES: tuple[Example, ...] = (
    Example(
        title="numbers",
        pattern=r'"\d+"',
        note="every token made of digits (WordPiece splits long numbers, so each piece counts)",
    ),
    Example(
        title="words inside double quotes",
        pattern=r'"\"" @<"\w+"> "\""',
        note="the tokens of a word between two double-quote tokens; @ marks the word, not the quotes",
    ),
    Example(
        title="dunder names",
        pattern=r'"_" "_" @<"\w+"> "_" "_"',
        note="the name inside a special name such as __init__ (tokenized _ _ in ##it _ _): a multi-token construction",
    ),
)
"""The three searches `tokrex demo` runs, in order."""
