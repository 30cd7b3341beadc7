"""Every example in docs/language.md runs against the corpus shown there and gives the positives
(and spans, and errors) written under it; the reference matcher agrees."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pattern_fixtures import parse_corpus, show_positions
from reference_matcher import reference_match
from tokrex.errors import PatternSyntaxError
from tokrex.pattern import compile

DOC = Path(__file__).resolve().parent.parent / "docs" / "language.md"
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def doc_blocks() -> tuple[str, list[tuple[int, str, dict[str, str]]]]:
    """(corpus text, [(line number, script, expectations)]) from the markdown."""
    text = DOC.read_text(encoding="utf-8")
    corpus, examples = None, []
    for m in _BLOCK.finditer(text):
        kind, body = m.group(1), m.group(2)
        line = text.count("\n", 0, m.start()) + 1
        if kind == "corpus":
            corpus = body
        elif kind == "tokrex":
            script = "\n".join(ln for ln in body.splitlines() if not ln.startswith("-- ")) + "\n"
            expect = dict(ln[3:].split(": ", 1) for ln in body.splitlines() if ln.startswith("-- "))
            examples.append((line, script, expect))
    return corpus, examples


CORPUS, EXAMPLES = doc_blocks()
VOCAB, IDS, OFFSETS = parse_corpus(CORPUS)


def _spans(result) -> str:
    rows = zip(result.match_doc.tolist(), result.match_start.tolist(), result.match_end.tolist())
    return ", ".join(f"{d}:{s}-{e}" for d, s, e in rows)


def test_the_document_has_examples():
    assert len(EXAMPLES) >= 40
    assert all(expect for _, _, expect in EXAMPLES), "every example states what it gives"


@pytest.mark.parametrize("line,script,expect", EXAMPLES, ids=[f"line{n}" for n, _, _ in EXAMPLES])
def test_doc_example(line, script, expect):
    if "error" in expect:
        with pytest.raises(PatternSyntaxError) as info:
            compile(script, VOCAB)
        assert expect["error"] in info.value.message
        return
    result = compile(script, VOCAB).run(IDS, OFFSETS)
    shown = show_positions(VOCAB, IDS, OFFSETS, result.positives) or "none"
    assert shown == expect["positives"]
    if "matches" in expect:
        assert _spans(result) == expect["matches"]
    positives, matches = reference_match(compile(script, VOCAB).script.query, VOCAB, IDS, OFFSETS)
    assert result.positives.tolist() == positives
    assert list(zip(result.match_doc.tolist(), result.match_start.tolist(), result.match_end.tolist())) == matches
