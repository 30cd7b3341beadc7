"""Golden files: pattern -> expected positions on tests/golden/corpus.txt.

Each ``tests/golden/*.txt`` (except corpus.txt) alternates ``# title: ...`` headers, a pattern
line and an expected line ``=> POSITIVES | SPANS`` (``doc:pos`` and ``doc:start-end`` lists, ``-``
for none).  The expected lines were written by the reference matcher and reviewed by hand; after
a deliberate change, ``python tests/test_pattern_golden.py --update`` rewrites them (review the
diff).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from pattern_fixtures import parse_corpus
from reference_matcher import reference_match
from tokrex.pattern import compile, parse

GOLDEN = Path(__file__).resolve().parent / "golden"
VOCAB, IDS, OFFSETS = parse_corpus((GOLDEN / "corpus.txt").read_text(encoding="utf-8"))


def _cases(path: Path) -> list[tuple[str, str, str | None]]:
    """(title, pattern, expected line or None) in file order."""
    out, title, lines = [], "", path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("# title:"):
            title = line[len("# title:") :].strip()
        elif line.strip():
            expected = lines[i + 1] if i + 1 < len(lines) and lines[i + 1].startswith("=> ") else None
            out.append((title, line, expected))
            i += 1 if expected is not None else 0
        i += 1
    return out


def _render(positives, matches) -> str:
    offsets = OFFSETS
    pos = []
    for g in positives:
        d = int(np.searchsorted(offsets, g, side="right") - 1)
        pos.append(f"{d}:{int(g - offsets[d])}")
    spans = [f"{d}:{s}-{e}" for d, s, e in matches]
    return f"=> {' '.join(pos) or '-'} | {' '.join(spans) or '-'}"


FILES = sorted(p for p in GOLDEN.glob("*.txt") if p.name != "corpus.txt")
CASES = [(p.stem, title, pattern, expected) for p in FILES for title, pattern, expected in _cases(p)]


def test_golden_files_are_complete():
    assert len(CASES) >= 50
    missing = [f"{f}: {t}" for f, t, _, e in CASES if e is None]
    assert not missing, f"golden cases without an expected line: {missing}"


@pytest.mark.parametrize("file,title,pattern,expected", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_golden(file, title, pattern, expected):
    result = compile(pattern, VOCAB).run(IDS, OFFSETS)
    spans = zip(result.match_doc.tolist(), result.match_start.tolist(), result.match_end.tolist())
    assert _render(result.positives.tolist(), list(spans)) == expected


def update() -> None:
    """Rewrite every expected line from the reference matcher."""
    for path in FILES:
        out = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("=> "):
                continue
            out.append(line)
            if line.strip() and not line.startswith("#"):
                out.append(_render(*reference_match(parse(line), VOCAB, IDS, OFFSETS)))
        path.write_text("\n".join(out) + "\n", encoding="utf-8")


if __name__ == "__main__" and "--update" in sys.argv:
    update()
