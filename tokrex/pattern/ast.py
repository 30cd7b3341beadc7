"""The pattern AST: plain frozen dataclasses, each with its source span in the script text.

Two families of nodes:

* single-token predicates (``TokenNode``): ``Regex``, ``Any``, ``TokenId``, ``Latent`` and the
  boolean combinations ``Not``, ``And``, ``Or`` (what ``[...]`` and ``!ATOM`` build);
* sequence-level nodes: ``Word``, ``Seq``, ``Alt``, ``Repeat``, ``DocStart``, ``DocEnd``,
  ``Look``, ``Capture``, ``Backref``, ``Mark`` (``@``).

A single-token predicate used at sequence level consumes exactly one token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Union

Span = tuple[int, int]
"""Character offsets ``[start, end)`` of a node in the script text."""


@dataclass(frozen=True, eq=False)
class Regex:
    """``"RE"FLAGS``: the token's core (or surface, flag ``s``) fullmatches ``source``."""

    source: str
    """The regex as handed to the ``regex`` module (``\\"`` already turned into ``"``)."""
    flags: str
    """Flags after the closing quote, deduplicated, in the order i, s, w, c."""
    span: Span = (0, 0)


@dataclass(frozen=True, eq=False)
class Any:
    """``.``: any token."""

    span: Span = (0, 0)


@dataclass(frozen=True, eq=False)
class TokenId:
    """``T123``: the token with this id."""

    id: int
    span: Span = (0, 0)


@dataclass(frozen=True, eq=False)
class Latent:
    """``L42`` / ``L42>0.5``: the SAE latent fires (above ``threshold``; ``None`` means > 0)."""

    latent: int
    threshold: float | None
    span: Span = (0, 0)


@dataclass(frozen=True, eq=False)
class Not:
    """Complement of a single-token predicate."""

    item: "TokenNode"
    span: Span = (0, 0)


@dataclass(frozen=True, eq=False)
class And:
    """Intersection of single-token predicates."""

    items: tuple["TokenNode", ...]
    span: Span = (0, 0)


@dataclass(frozen=True, eq=False)
class Or:
    """Union of single-token predicates."""

    items: tuple["TokenNode", ...]
    span: Span = (0, 0)


TokenNode = Union[Regex, Any, TokenId, Latent, Not, And, Or]
TOKEN_NODES = (Regex, Any, TokenId, Latent, Not, And, Or)


@dataclass(frozen=True, eq=False)
class Word:
    """``<"RE"i>``: one whole word (a maximal run of joined tokens) whose text fullmatches."""

    source: str
    flags: str
    span: Span = (0, 0)


@dataclass(frozen=True, eq=False)
class Seq:
    """Juxtaposition: the items one after another."""

    items: tuple["Node", ...]
    span: Span = (0, 0)


@dataclass(frozen=True, eq=False)
class Alt:
    """``A | B``: any of the options."""

    options: tuple["Node", ...]
    span: Span = (0, 0)


@dataclass(frozen=True, eq=False)
class Repeat:
    """A quantifier: ``min`` to ``max`` iterations (``max=None`` is unbounded)."""

    body: "Node"
    min: int
    max: int | None
    span: Span = (0, 0)


@dataclass(frozen=True, eq=False)
class DocStart:
    """``^``: the start of the document."""

    span: Span = (0, 0)


@dataclass(frozen=True, eq=False)
class DocEnd:
    """``$``: the end of the document."""

    span: Span = (0, 0)


@dataclass(frozen=True, eq=False)
class Look:
    """A lookaround: ``(?=`` ``(?!`` ``(?<=`` ``(?<!``."""

    direction: Literal["ahead", "behind"]
    negate: bool
    body: "Node"
    span: Span = (0, 0)


@dataclass(frozen=True, eq=False)
class Capture:
    """``(?<name> P)``: records the tokens ``P`` consumed under ``name``."""

    name: str
    body: "Node"
    span: Span = (0, 0)


@dataclass(frozen=True, eq=False)
class Backref:
    """``\\k<name>``: as many tokens as captured, core texts equal one by one."""

    name: str
    span: Span = (0, 0)


@dataclass(frozen=True, eq=False)
class Mark:
    """``@ITEM``: the tokens ``ITEM`` consumes are the match's positives."""

    body: "Node"
    span: Span = (0, 0)


Node = Union[TokenNode, Word, Seq, Alt, Repeat, DocStart, DocEnd, Look, Capture, Backref, Mark]


@dataclass(frozen=True)
class Definition:
    """``name = PATTERN`` on one line of a script."""

    name: str
    node: Node
    line: int
    """1-based line number in the script."""
    span: Span = (0, 0)


@dataclass(frozen=True)
class Script:
    """A parsed script: its definitions (in order) and the query with names inlined."""

    text: str
    """The whole script text (spans index into it)."""
    query: Node
    """The one query line, every name reference replaced by its definition."""
    definitions: tuple[Definition, ...] = field(default_factory=tuple)
    query_line: int = 1
    """1-based line number of the query."""


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-nodes of ``node``."""
    if isinstance(node, (Seq, And, Or)):
        return node.items
    if isinstance(node, Alt):
        return node.options
    if isinstance(node, (Repeat, Look, Capture, Mark)):
        return (node.body,)
    if isinstance(node, Not):
        return (node.item,)
    return ()


def walk(node: Node):
    """Every node of the tree, parents before children."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(children(n)))


def length_range(node: Node) -> tuple[int, int | None]:
    """Fewest and most tokens ``node`` can consume (``None``: unbounded); back-references count as unbounded."""
    if isinstance(node, TOKEN_NODES):
        return 1, 1
    if isinstance(node, (DocStart, DocEnd, Look)):
        return 0, 0
    if isinstance(node, (Word, Backref)):
        return (1, None) if isinstance(node, Word) else (0, None)
    if isinstance(node, (Capture, Mark)):
        return length_range(node.body)
    if isinstance(node, Seq):
        lo, hi = 0, 0
        for item in node.items:
            a, b = length_range(item)
            lo += a
            hi = None if hi is None or b is None else hi + b
        return lo, hi
    if isinstance(node, Alt):
        ranges = [length_range(o) for o in node.options]
        his = [b for _, b in ranges]
        return min(a for a, _ in ranges), None if None in his else max(his)
    if isinstance(node, Repeat):
        a, b = length_range(node.body)
        if node.max is None:
            return a * node.min, (0 if b == 0 else None)
        return a * node.min, None if b is None else b * node.max
    raise TypeError(f"unknown node {node!r}")
