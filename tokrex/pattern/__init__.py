"""The token-regex language: parse a script, compile it for a vocabulary, match it over a corpus.

>>> p = compile('"[A-Z][a-z]+" @"said"', vocab)      # doctest: +SKIP
>>> r = p.run(ids, doc_offsets)                       # doctest: +SKIP
>>> r.positives, r.match_doc, r.match_start, r.match_end   # doctest: +SKIP

The language is specified in docs/language.md; its grammar is grammar/tokrex.lark.
"""

from __future__ import annotations

from tokrex.pattern.compile import CompiledPattern, compile
from tokrex.pattern.parse import parse, parse_script
from tokrex.pattern.result import MatchResult

__all__ = ["compile", "CompiledPattern", "MatchResult", "parse", "parse_script"]
