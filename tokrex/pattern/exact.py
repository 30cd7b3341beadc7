"""The exact path for back-references the vectorized matcher does not cover.

Per candidate document, every (end, captures) outcome of every sub-pattern at every position
is computed once (memoized), together with the tokens ``@`` items consumed on the way (a
bitmask, unioned over parses -- exact, because any parse of a prefix combines with any parse
of the rest from the same (position, captures) state).  Token predicates, word atoms and
lookarounds without back-references come from the vectorized engine's masks.

Candidate documents are those where a relaxed pattern -- back-references replaced by ``.``
repeated as often as the capture can be long, negative lookarounds around them dropped --
matches: a superset of the real matches, found by the vectorized engine.
"""

from __future__ import annotations

import numpy as np

from tokrex.pattern import ast as A
from tokrex.pattern.match import Engine
from tokrex.pattern.result import MatchResult

Env = tuple  # sorted ((name, tuple of core ids), ...)


def relax(node: A.Node, lengths: dict[str, tuple[int, int | None]], memo: dict | None = None) -> A.Node:
    """A back-reference-free pattern matching at least wherever ``node`` matches."""
    memo = {} if memo is None else memo
    if id(node) in memo:
        return memo[id(node)]
    has_ref = any(isinstance(n, A.Backref) for n in A.walk(node))
    out: A.Node = node
    if not has_ref:
        out = node
    elif isinstance(node, A.Backref):
        lo, hi = lengths.get(node.name, (0, 0))
        out = A.Repeat(A.Any(), lo, hi, node.span)
    elif isinstance(node, A.Look) and node.negate:
        out = A.Repeat(A.Any(), 0, 0, node.span)  # always true, consumes nothing
    elif isinstance(node, A.Look):
        out = A.Look(node.direction, False, relax(node.body, lengths, memo), node.span)
    elif isinstance(node, A.Seq):
        out = A.Seq(tuple(relax(i, lengths, memo) for i in node.items), node.span)
    elif isinstance(node, A.Alt):
        out = A.Alt(tuple(relax(o, lengths, memo) for o in node.options), node.span)
    elif isinstance(node, A.Repeat):
        out = A.Repeat(relax(node.body, lengths, memo), node.min, node.max, node.span)
    elif isinstance(node, A.Capture):
        out = relax(node.body, lengths, memo)
    elif isinstance(node, A.Mark):
        out = A.Mark(relax(node.body, lengths, memo), node.span)
    memo[id(node)] = out
    return out


def _capture_lengths(query: A.Node) -> dict[str, tuple[int, int | None]]:
    out: dict[str, tuple[int, int | None]] = {}
    for n in A.walk(query):
        if isinstance(n, A.Capture):
            lo, hi = A.length_range(n.body)
            if any(isinstance(m, A.Backref) for m in A.walk(n.body)):
                hi = None
            if n.name in out:
                plo, phi = out[n.name]
                lo, hi = min(lo, plo), None if hi is None or phi is None else max(hi, phi)
            out[n.name] = (lo, hi)
    return out


class _DocMatcher:
    """Exact evaluation within one document (padded positions base+1 .. base+n)."""

    def __init__(self, engine: Engine, base: int, n: int):
        self.engine = engine
        self.base = base  # padded index of the sentinel before the document
        self.n = n
        self.core = engine.lay.core_ids[base + 1 : base + 1 + n].tolist()
        self.memo: dict[tuple[int, int, Env], dict] = {}

    def padded(self, pos: int) -> int:
        return self.base + 1 + pos

    def run(self, node: A.Node, pos: int, env: Env) -> dict[tuple[int, Env], int]:
        key = (id(node), pos, env)
        found = self.memo.get(key)
        if found is None:
            found = self.memo[key] = self._run(node, pos, env)
        return found

    def _run(self, node, pos, env):
        eng = self.engine
        if isinstance(node, A.TOKEN_NODES):
            ok = pos < self.n and eng.tok(node)[self.padded(pos)]
            return {(pos + 1, env): 0} if ok else {}
        if isinstance(node, A.Word):
            if pos < self.n and eng.word(node)[self.padded(pos)]:
                return {(int(eng.lay.word_end[self.padded(pos)]) - self.base - 1, env): 0}
            return {}
        if isinstance(node, (A.DocStart, A.DocEnd)):
            ok = pos == 0 if isinstance(node, A.DocStart) else pos == self.n
            return {(pos, env): 0} if ok else {}
        if isinstance(node, A.Look):
            return {(pos, env): 0} if self._look(node, pos, env) else {}
        if isinstance(node, A.Seq):
            states = {(pos, env): 0}
            for item in node.items:
                nxt: dict = {}
                for (p, e), mk in states.items():
                    for key, mk2 in self.run(item, p, e).items():
                        nxt[key] = nxt.get(key, 0) | mk | mk2
                states = nxt
            return states
        if isinstance(node, A.Alt):
            out: dict = {}
            for o in node.options:
                for key, mk in self.run(o, pos, env).items():
                    out[key] = out.get(key, 0) | mk
            return out
        if isinstance(node, A.Repeat):
            return self._repeat(node, pos, env)
        if isinstance(node, A.Capture):
            out = {}
            for (e, env2), mk in self.run(node.body, pos, env).items():
                value = tuple(self.core[pos:e])
                env3 = tuple(sorted([kv for kv in env2 if kv[0] != node.name] + [(node.name, value)]))
                out[(e, env3)] = out.get((e, env3), 0) | mk
            return out
        if isinstance(node, A.Backref):
            value = dict(env).get(node.name)
            if value is None or tuple(self.core[pos : pos + len(value)]) != value:
                return {}
            return {(pos + len(value), env): 0}
        if isinstance(node, A.Mark):
            out = {}
            for (e, env2), mk in self.run(node.body, pos, env).items():
                out[(e, env2)] = mk | (((1 << e) - 1) ^ ((1 << pos) - 1))
            return out
        raise TypeError(node)

    def _look(self, node: A.Look, pos: int, env: Env) -> bool:
        if not any(isinstance(n, A.Backref) for n in A.walk(node.body)):
            return bool(self.engine.look(node)[self.padded(pos)])
        if node.direction == "ahead":
            found = bool(self.run(node.body, pos, env))
        else:
            found = any(e == pos for s in range(pos, -1, -1) for (e, _) in self.run(node.body, s, env))
        return found != node.negate

    def _repeat(self, node: A.Repeat, pos: int, env: Env) -> dict:
        cap = node.min if node.max is None else node.max
        states = {(pos, env, 0): 0}
        todo = [(pos, env, 0)]
        while todo:
            p, e, k = todo.pop()
            mk = states[(p, e, k)]
            if node.max is not None and k >= node.max:
                continue
            for (q, e2), mk2 in self.run(node.body, p, e).items():
                if q == p and k >= node.min:
                    continue  # iterations past the minimum must consume a token
                key = (q, e2, min(k + 1, cap))
                old = states.get(key)
                new = (old or 0) | mk | mk2
                if old is None or new != old:
                    states[key] = new
                    todo.append(key)
        out: dict = {}
        for (q, e, k), mk in states.items():
            if k >= node.min:
                out[(q, e)] = out.get((q, e), 0) | mk
        return out


def run_exact(query: A.Node, engine: Engine, marks: bool) -> MatchResult:
    lay = engine.lay
    relaxed = relax(query, _capture_lengths(query))
    starts = engine.bwd(relaxed, engine.ALL)
    docs = np.unique(lay.locate(np.flatnonzero(starts[:-1]))[0]) if starts is not None else []
    positives: list[int] = []
    spans: tuple[list[int], list[int], list[int]] = ([], [], [])
    for d in docs.tolist() if len(docs) else []:
        base = int(lay.sentinels[d])
        n = int(lay.sentinels[d + 1]) - base - 1
        doc = _DocMatcher(engine, base, n)
        candidate = starts[base + 1 : base + 1 + n]
        best: dict[int, int] = {}
        bits = 0
        for s in np.flatnonzero(candidate).tolist():
            for (e, _), mk in doc.run(query, s, ()).items():
                if e <= s:
                    continue  # a match consumes at least one token
                if e not in best:
                    best[e] = s
                bits |= mk if marks else 1 << (e - 1)
        offset = int(lay.offsets[d])
        positives.extend(offset + i for i in range(n) if bits >> i & 1)
        for e in sorted(best):
            spans[0].append(d)
            spans[1].append(best[e])
            spans[2].append(e)
    result = tuple(np.array(a, dtype=np.int64) for a in spans)
    return MatchResult(np.array(positives, dtype=np.int64), lay.offsets, result)
