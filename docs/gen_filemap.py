"""Generate the README's file map from the real tree: one line per module, its docstring's first line.

``python docs/gen_filemap.py [FILE]`` rewrites the block between ``<!-- filemap -->`` and
``<!-- /filemap -->`` in FILE (default: README.md);
``--check`` exits 1 when that block is stale (a test runs it).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- filemap -->", "<!-- /filemap -->"
# Folders listed as one line each (their files are not modules of the package).
FOLDERS = {
    "grammar/": "the pattern language's grammar (tokrex.lark), the reference for its syntax",
    "docs/": "language reference, CLI reference (generated), store formats, SAEs, the toy model, design, scaling, output schemas",
    "examples/": "runnable scripts: names, quoted words, induction, absorption holes, exports, SAELens",
    "benchmarks/": "`make bench`: matcher, search, store and training throughput, with the machine described",
    "tests/": "the test suite (`make test`); tiny tokenizers and models are built in-process",
}


def first_line(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    line = doc.strip().splitlines()[0] if doc.strip() else ""
    return line.replace("``", "`").rstrip()


def render() -> str:
    modules = sorted(p for p in (ROOT / "tokrex").rglob("*.py") if "__pycache__" not in p.parts)
    rows = []
    for p in modules:
        text = first_line(p)
        if p.name == "__init__.py" and not text:
            continue
        rows.append((p.relative_to(ROOT).as_posix(), text or "-"))
    rows += list(FOLDERS.items())
    width = max(len(name) for name, _ in rows) + 2
    body = "\n".join(f"{name:<{width}}{text}" for name, text in rows)
    return f"{START}\n```text\n{body}\n```\n{END}"


def target(argv: list[str]) -> Path:
    args = [a for a in argv if not a.startswith("--")]
    if args:
        return Path(args[0])
    return ROOT / "README.md"


def main(argv: list[str]) -> int:
    path = target(argv)
    text = path.read_text(encoding="utf-8")
    if START not in text or END not in text:
        print(f"{path} has no {START} ... {END} block.", file=sys.stderr)
        return 1
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    new = head + render() + tail
    if "--check" in argv:
        if new != text:
            print(f"The file map in {path} is stale: run `python docs/gen_filemap.py`.", file=sys.stderr)
            return 1
        return 0
    path.write_text(new, encoding="utf-8")
    print(f"wrote the file map in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
