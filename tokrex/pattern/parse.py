"""Script text -> AST: lark parses with grammar/tokrex.lark, then names are inlined and checked.

``parse_script(text)`` returns a ``Script`` (definitions and the query); ``parse(text)`` returns
the query node.  Every error is a ``PatternSyntaxError`` (or ``PatternError`` for patterns that
parse but mean nothing) with the position of the offending character.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

import regex
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput

from tokrex.errors import PatternError, PatternSyntaxError
from tokrex.pattern import ast as A
from tokrex.pattern.diagnose import diagnose

TOKEN_FLAGS = "iswc"
WORD_FLAGS = "i"
_BRACE = re.compile(r"^\{\s*(\d*)\s*(,?)\s*(\d*)\s*\}$")


@lru_cache(maxsize=1)
def _lark() -> Lark:
    source = resources.files("tokrex").joinpath("grammar/tokrex.lark").read_text(encoding="utf-8")
    return Lark(source, parser="lalr", lexer="contextual", maybe_placeholders=False)


def parse(text: str) -> A.Node:
    """The query of the script ``text``, with definitions inlined."""
    return parse_script(text).query


def parse_script(text: str) -> A.Script:
    """Parse a whole script: definitions, comments and exactly one query line."""
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as exc:
        raise diagnose(text, exc, _lark().parse) from None
    return _Builder(text).script(tree)


def unescape(inner: str, offset: int) -> tuple[str, list[int]]:
    """The regex inside quotes with ``\\"`` turned into ``"``, and for each of its characters
    (plus one past the end) the offset in the script."""
    out: list[str] = []
    where: list[int] = []
    i = 0
    while i < len(inner):
        if inner[i] == "\\" and i + 1 < len(inner):
            if inner[i + 1] == '"':
                out.append('"')
                where.append(offset + i)
            else:
                out.extend(inner[i : i + 2])
                where.extend((offset + i, offset + i + 1))
            i += 2
        else:
            out.append(inner[i])
            where.append(offset + i)
            i += 1
    where.append(offset + len(inner))
    return "".join(out), where


def _regex_error_index(source: str, message: str, index: int) -> int:
    """Where in ``source`` to put the caret for a ``regex`` error: on the opener left unclosed,
    on the ``\\p`` of an unknown property, else at the reported position kept inside the quotes."""
    if message in ("missing )", "unterminated character set"):
        groups: list[int] = []
        set_start: int | None = None
        i = 0
        while i < len(source):
            ch = source[i]
            if ch == "\\":
                i += 2
                continue
            if set_start is not None:
                if ch == "]" and i > set_start + 1 and source[set_start + 1 : i] != "^":
                    set_start = None
            elif ch == "[":
                set_start = i
            elif ch == "(":
                groups.append(i)
            elif ch == ")" and groups:
                groups.pop()
            i += 1
        found = set_start if message.startswith("unterminated") else (groups[-1] if groups else None)
        if found is not None:
            return found
    if message == "unknown property":
        found = max(source.rfind("\\p", 0, index), source.rfind("\\P", 0, index))
        if found >= 0:
            return found
    return max(0, min(index, len(source) - 1))


def compile_regex(source: str, flags: str, text: str, where: list[int]) -> regex.Pattern:
    """Compile ``source`` with the ``regex`` module; errors point inside the quotes."""
    try:
        return regex.compile(source, regex.IGNORECASE if "i" in flags else 0)
    except regex.error as exc:
        message = re.sub(r" at position \d+$", "", str(exc))
        index = _regex_error_index(source, message, exc.pos if exc.pos is not None else 0)
        raise PatternSyntaxError(f"invalid regex: {message}", text, where[index]) from None


def as_token(node: A.Node) -> A.TokenNode | None:
    """``node`` as a single-token predicate, or None when it can consume other than one token."""
    if isinstance(node, A.TOKEN_NODES):
        return node
    if isinstance(node, A.Alt):
        items = [as_token(o) for o in node.options]
        if all(i is not None for i in items):
            return A.Or(tuple(items), node.span)
    return None


class _Builder:
    """Walks lark's tree line by line, resolving names against earlier definitions."""

    def __init__(self, text: str):
        self.text = text
        self.names: dict[str, A.Definition] = {}

    def error(self, message: str, pos: int, cls=PatternError):
        return cls(message, self.text, pos)

    # ---- script level -------------------------------------------------------------------
    def script(self, tree: Tree) -> A.Script:
        query = None
        query_line = 0
        for number, line in enumerate(tree.children, start=1):
            if line.data == "definition":
                name, eq, body = line.children
                self.define(name, eq, body, number)
                continue
            node = self.alternation(line.children[0], context="line")
            if node is None:
                continue
            if query is not None:
                raise self.error(
                    f"a pattern has exactly one query line, but line {query_line} is one already; "
                    "define names with name = PATTERN",
                    node.span[0],
                    PatternSyntaxError,
                )
            query, query_line = node, number
        if query is None:
            raise self.error("the pattern has no query line, only definitions or blank lines", len(self.text),
                             PatternSyntaxError)
        check(query, self.text)
        return A.Script(self.text, query, tuple(self.names.values()), query_line)

    def define(self, name: Token, eq: Token, body: Tree, number: int) -> None:
        if not name[0].islower():
            raise self.error(f"defined names start with a lowercase letter, not {name[0]!r}", name.start_pos,
                             PatternSyntaxError)
        if name in self.names:
            raise self.error(f"name {str(name)!r} is already defined on line {self.names[name].line}", name.start_pos)
        node = self.alternation(body, context="definition", anchor=eq.start_pos)
        self.names[str(name)] = A.Definition(str(name), node, number, (name.start_pos, node.span[1]))

    # ---- sequence level -----------------------------------------------------------------
    def alternation(self, tree: Tree, context: str, anchor: int = 0) -> A.Node | None:
        parts = tree.children
        seqs = [p for p in parts if isinstance(p, Tree)]
        bars = [p for p in parts if isinstance(p, Token)]
        nodes = []
        for i, seq in enumerate(seqs):
            node = self.sequence(seq)
            if node is None:
                if bars:
                    bar = bars[i] if i < len(bars) else bars[-1]
                    raise self.error("empty alternative: each side of '|' needs at least one item", bar.start_pos,
                                     PatternSyntaxError)
                if context == "line":
                    return None
                what = "definition" if context == "definition" else "group"
                raise self.error(f"empty {what}: put at least one item in it", anchor, PatternSyntaxError)
            nodes.append(node)
        if len(nodes) == 1:
            return nodes[0]
        return A.Alt(tuple(nodes), (nodes[0].span[0], nodes[-1].span[1]))

    def sequence(self, tree: Tree) -> A.Node | None:
        items = [self.item(c) for c in tree.children]
        if not items:
            return None
        if len(items) == 1:
            return items[0]
        return A.Seq(tuple(items), (items[0].span[0], items[-1].span[1]))

    def item(self, tree: Tree) -> A.Node:
        parts = list(tree.children)
        at = parts.pop(0) if isinstance(parts[0], Token) and parts[0].type == "AT" else None
        quant = parts.pop() if isinstance(parts[-1], Token) and parts[-1].type == "QUANT" else None
        node = self.unary(parts[0])
        if quant is not None:
            lo, hi = self.quantifier(quant)
            node = A.Repeat(node, lo, hi, (node.span[0], quant.end_pos))
        if at is not None:
            node = A.Mark(node, (at.start_pos, node.span[1]))
        return node

    def quantifier(self, tok: Token) -> tuple[int, int | None]:
        text = str(tok)
        if text in "?*+":
            return {"?": (0, 1), "*": (0, None), "+": (1, None)}[text]
        m = _BRACE.match(text)
        if not m or (not m.group(1) and not m.group(3)) or (not m.group(2) and not m.group(1)):
            raise self.error(f"bad quantifier {text}: write {{m}}, {{m,}}, {{,n}} or {{m,n}} with whole numbers",
                             tok.start_pos, PatternSyntaxError)
        lo = int(m.group(1) or 0)
        hi = lo if not m.group(2) else (int(m.group(3)) if m.group(3) else None)
        if hi is not None and hi < lo:
            raise self.error(f"bad quantifier range {text}: the minimum {lo} is larger than the maximum {hi}",
                             tok.start_pos, PatternSyntaxError)
        return lo, hi

    def unary(self, tree: Tree) -> A.Node:
        if tree.data == "negate":
            bang, inner = tree.children
            node = self.unary(inner)
            token = as_token(node)
            if token is None:
                raise self.error(
                    "'!' negates a single token; to exclude a longer pattern use a negative lookahead (?!...)",
                    bang.start_pos,
                )
            return A.Not(token, (bang.start_pos, node.span[1]))
        return self.primary(tree.children[0])

    def primary(self, tree: Tree) -> A.Node:
        kind, ch = tree.data, tree.children
        if kind in ("regex_atom", "any_atom", "token_atom", "latent_atom"):
            return self.atom(kind, ch[0])
        if kind == "name_ref":
            return self.name(ch[0], in_class=False)
        if kind == "word_atom":
            source, flags, _ = self.string(ch[1], WORD_FLAGS, "word atoms")
            return A.Word(source, flags, (ch[0].start_pos, ch[2].end_pos))
        if kind == "bracket":
            return self.cls(ch[1])
        span = (ch[0].start_pos, ch[-1].end_pos)
        if kind == "doc_start":
            return A.DocStart(span)
        if kind == "doc_end":
            return A.DocEnd(span)
        if kind == "backref":
            return A.Backref(str(ch[0])[3:-1], span)
        body = self.alternation(ch[1], context="group", anchor=ch[0].start_pos)
        if kind == "group":
            return body
        if kind == "capture":
            return A.Capture(str(ch[0])[3:-1], body, span)
        opener = str(ch[0])
        direction = "behind" if opener.startswith("(?<") else "ahead"
        return A.Look(direction, opener.endswith("!"), body, span)

    # ---- single-token atoms -------------------------------------------------------------
    def atom(self, kind: str, tok: Token) -> A.TokenNode:
        span = (tok.start_pos, tok.end_pos)
        if kind == "regex_atom":
            source, flags, _ = self.string(tok, TOKEN_FLAGS, "token atoms")
            return A.Regex(source, flags, span)
        if kind == "any_atom":
            return A.Any(span)
        if kind == "token_atom":
            return A.TokenId(int(str(tok)[1:]), span)
        head, _, threshold = str(tok)[1:].partition(">")
        return A.Latent(int(head), float(threshold) if threshold else None, span)

    def string(self, tok: Token, allowed: str, what: str) -> tuple[str, str, list[int]]:
        text = str(tok)
        close = text.rindex('"')
        source, where = unescape(text[1:close], tok.start_pos + 1)
        flags = ""
        for k, flag in enumerate(text[close + 1 :]):
            at = tok.start_pos + close + 1 + k
            if flag not in allowed:
                choices = ", ".join(allowed)
                raise self.error(f"unknown flag {flag!r} for {what}; the flags are {choices}", at, PatternSyntaxError)
            if {flag, *flags} >= {"w", "c"}:
                raise self.error("flags w and c contradict each other: a token cannot both begin and continue a word",
                                 at)
            if flag not in flags:
                flags += flag
        compile_regex(source, flags, self.text, where)
        return source, "".join(f for f in TOKEN_FLAGS if f in flags), where

    def name(self, tok: Token, in_class: bool) -> A.Node:
        definition = self.names.get(str(tok))
        if definition is None:
            raise self.error(f"unknown name {str(tok)!r}: define it on an earlier line as {tok} = PATTERN",
                             tok.start_pos)
        if in_class:
            token = as_token(definition.node)
            if token is None:
                raise self.error(f"name {str(tok)!r} is not a single-token pattern, so it cannot be used inside [...]",
                                 tok.start_pos)
            return token
        return definition.node

    def cls(self, tree: Tree) -> A.TokenNode:
        kind, ch = tree.data, tree.children
        if kind == "cls_or" or kind == "cls_and":
            items = [self.cls(c) for c in ch if isinstance(c, Tree)]
            if len(items) == 1:
                return items[0]
            span = (items[0].span[0], items[-1].span[1])
            return A.Or(tuple(items), span) if kind == "cls_or" else A.And(tuple(items), span)
        if kind == "cls_not":
            return self.cls(ch[0])
        if kind == "cls_negate":
            inner = self.cls(ch[1])
            return A.Not(inner, (ch[0].start_pos, inner.span[1]))
        if kind == "cls_group":
            return self.cls(ch[1])
        if kind == "name_ref":
            return self.name(ch[0], in_class=True)  # type: ignore[return-value]
        return self.atom(kind, ch[0])


def check(query: A.Node, text: str) -> None:
    """Rules the grammar cannot state: '@' placement and back-reference visibility."""
    captures: list[tuple[str, tuple[int, ...]]] = []
    backrefs: list[tuple[A.Backref, tuple[int, ...]]] = []

    def visit(node: A.Node, scope: tuple[int, ...]) -> None:
        if isinstance(node, A.Mark):
            if scope:
                raise PatternError("'@' cannot be used inside a lookaround: lookarounds consume no tokens", text,
                                   node.span[0])
            if A.length_range(node.body)[1] == 0:
                raise PatternError("'@' marks consumed tokens, but this item never consumes any", text, node.span[0])
        if isinstance(node, A.Look):
            scope = scope + (id(node),)
        if isinstance(node, A.Capture):
            captures.append((node.name, scope))
        if isinstance(node, A.Backref):
            backrefs.append((node, scope))
        for child in A.children(node):
            visit(child, scope)

    visit(query, ())
    for ref, scope in backrefs:
        scopes = [s for name, s in captures if name == ref.name]
        if not scopes:
            raise PatternError(f"undefined capture in \\k<{ref.name}>: the pattern has no (?<{ref.name}> ...)", text,
                               ref.span[0])
        if not any(scope[: len(s)] == s for s in scopes):
            raise PatternError(
                f"capture {ref.name!r} is made inside a lookaround and is not visible here; "
                "captures inside a lookaround are seen only within it",
                text,
                ref.span[0],
            )
