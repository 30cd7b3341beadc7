"""One error root for tokrex, a class per pipeline stage.

Domain code raises these; the CLI turns them into one red line on stderr
(plus, for pattern errors, the pattern with a caret) and an exit code:
2 for usage errors (a bad pattern, a bad flag combination), 1 for runtime errors.
"""

from __future__ import annotations


class TokrexError(Exception):
    """Root of every error tokrex raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def render(self) -> str:
        """The text the CLI prints (without the leading 'Error: ')."""
        return self.message


class UsageError(TokrexError):
    """A bad combination of options or arguments."""

    exit_code = 2


class PatternSyntaxError(TokrexError):
    """A pattern that does not parse, or is invalid, with the offending position.

    ``pos`` is a 0-based character offset into ``pattern``; ``line``/``column``
    are 1-based and derived from it.
    """

    exit_code = 2

    def __init__(self, message: str, pattern: str = "", pos: int = 0):
        super().__init__(message)
        self.pattern = pattern
        self.pos = max(0, min(pos, len(pattern)))

    @property
    def line(self) -> int:
        return self.pattern.count("\n", 0, self.pos) + 1

    @property
    def column(self) -> int:
        return self.pos - (self.pattern.rfind("\n", 0, self.pos) + 1) + 1

    def context(self) -> str:
        """The pattern line holding the error with a caret under the offending character."""
        start = self.pattern.rfind("\n", 0, self.pos) + 1
        end = self.pattern.find("\n", self.pos)
        text = self.pattern[start : end if end != -1 else len(self.pattern)]
        return f"{text}\n{_pad(self.pattern[start : self.pos])}^"

    def render(self) -> str:
        where = f" (line {self.line}, column {self.column})" if "\n" in self.pattern else ""
        return f"{self.message}{where}\n{self.context()}"


def _pad(prefix: str) -> str:
    """Blanks as wide as ``prefix`` on a terminal: tabs kept, wide (East Asian) characters doubled."""
    import unicodedata

    return "".join(
        "\t" if ch == "\t" else "  " if unicodedata.east_asian_width(ch) in "WF" else " " for ch in prefix
    )


class PatternError(PatternSyntaxError):
    """A pattern that parses but is not meaningful (e.g. '!' on a sequence, an unknown name)."""


class NeedsSaeError(PatternSyntaxError):
    """A latent atom (L42) used where no SAE is in play."""


class CorpusError(TokrexError):
    """Building, opening or reading a corpus store."""


class StoreError(TokrexError):
    """Reading or writing firings and other derived data in a store."""


class ActivationError(TokrexError):
    """Loading a model, hooking it, or caching activations."""


class SaeError(TokrexError):
    """Loading, training or saving an SAE; a mismatch between SAE and model/store."""


class QueryError(TokrexError):
    """Ranking and SQL queries."""


class ToyError(TokrexError):
    """The ground-truth toy model: a bad tree file or toy setting."""
