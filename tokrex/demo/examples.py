r"""The demo's example searches, chosen for an uncased WordPiece tokenizer on Python's documentation.

all-MiniLM-L6-v2 lowercases its input and splits punctuation into tokens of their own, so
capitalization patterns cannot work with it, and ``"``, ``_`` and ``.`` are separate tokens; it
also drops whitespace, so an opening quote looks exactly like a closing one. Each example was
checked against the corpus with ``tokrex match --count`` and chosen among candidates for having a
latent with a good F1 in the demo's SAE: words between quotes (``"\"" @<"\w+"> "\""``) or the
names inside dunders (``"_" "_" @<"\w+"> "_" "_"``) have none (top F1 about 0.15).
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
        title="self as a first argument",
        pattern=r'"\(" @"self"',
        note="self right after an opening parenthesis, as in def __init__(self, ...); @ marks self, not the parenthesis",
    ),
    Example(
        title="the integer part of a dotted number",
        pattern=r'@"\d+" "\." "\d+"',
        note="a multi-token construction: number, full stop, number (3 . 12 in 'new in version 3.12'); @ marks the first number",
    ),
)
"""The three searches `tokrex demo` runs, in order."""
