"""Vectorized evaluation of a pattern over a padded corpus layout (see layout.py).

A pattern denotes a relation between boundaries: (s, e) when it matches the span [s, e).  Sets
of boundaries are numpy arrays over 0..M and every construct maps sets to sets at once:

* ``fwd(P, X)``: the ends reached from starts in X by spans of P consuming >= 1 token;
* ``bwd(P, E)``: the starts from which an end in E is reached by such spans;
* ``null(P)``: the boundaries where P matches the empty span (anchors, lookarounds, ``x?``).

The whole-span reach is ``fwd(P, X) | (X & null(P))``.  ``fwd`` also runs over min-plus
arrays (``MIN``): X holds a start position per boundary and the result holds, for every end,
the least start reaching it, which gives each end's longest match.  Lookarounds are masks of
``null``; ``@`` is a forward-backward pass (``marks``).  Nothing loops over tokens; repetition
of a multi-token body loops once per iteration count, with a frontier that shrinks to nothing.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from tokrex.pattern import ast as A
from tokrex.pattern import runs
from tokrex.pattern.layout import Layout
from tokrex.pattern.words import word_index

INF = runs.INF
SMALL_REPEAT = 32
"""Bounded repeats of one token up to this many iterations run as single steps."""


def _or(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a | b


class _Bool:
    """Plain boundary sets."""

    @staticmethod
    def union(a, b):
        return _or(a, b)

    @staticmethod
    def restrict(a, null):
        if a is None or null is None:
            return None
        return a if null is True else a & null

    @staticmethod
    def token(X, T):
        out = np.zeros(X.size, dtype=bool)
        np.logical_and(X[:-1], T, out=out[1:])
        return out

    @staticmethod
    def token_run(X, T, lo, hi):
        return runs.forward_bool(X, T, lo, hi)

    @staticmethod
    def star(X, T):
        return runs.star_bool(X, T)

    @staticmethod
    def word(X, starts, ends):
        out = np.zeros(X.size, dtype=bool)
        out[ends[starts & X[:-1]]] = True
        return out

    @staticmethod
    def any(a):
        return a is not None and bool(a.any())

    @staticmethod
    def newer(cur, seen):
        return cur & ~seen


class _Min:
    """Boundary -> least start position reaching it (INF: unreached).

    Restricting to a mask is ``maximum(values, penalty)`` with penalty 0 inside the mask and
    INF outside -- one vectorized max instead of a select; penalties are kept per mask."""

    def __init__(self):
        self._penalties: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def penalty(self, mask: np.ndarray) -> np.ndarray:
        hit = self._penalties.get(id(mask))
        if hit is None:  # the mask stays referenced, so its id is not reused meanwhile
            hit = self._penalties[id(mask)] = (mask, np.where(mask, np.int32(0), np.int32(INF)))
        return hit[1]

    @staticmethod
    def union(a, b):
        if a is None:
            return b
        if b is None:
            return a
        return np.minimum(a, b)

    def restrict(self, a, null):
        if a is None or null is None:
            return None
        return a if null is True else np.maximum(a, self.penalty(null))

    def token(self, X, T):
        out = np.empty(X.size, dtype=np.int32)
        out[0] = INF
        np.maximum(X[:-1], self.penalty(T), out=out[1:])
        return out

    @staticmethod
    def token_run(X, T, lo, hi):
        return runs.forward_min(X, T, lo, hi)

    @staticmethod
    def star(X, T):
        return runs.forward_min(X, T, 1, None)

    @staticmethod
    def word(X, starts, ends):
        out = np.full(X.size, INF, dtype=np.int32)
        sel = starts & (X[:-1] < INF)
        out[ends[sel]] = X[:-1][sel]
        return out

    @staticmethod
    def any(a):
        return a is not None and bool((a < INF).any())

    @staticmethod
    def newer(cur, seen):
        return np.where(cur < seen, cur, INF)


BOOL = _Bool()


def token_body(node: A.Node) -> A.Node | None:
    """The single-token predicate under captures, or None."""
    while isinstance(node, A.Capture):
        node = node.body
    return node if isinstance(node, A.TOKEN_NODES) else None


def has_mark(node: A.Node) -> bool:
    return any(isinstance(n, A.Mark) for n in A.walk(node))


class Engine:
    """Evaluates patterns (without back-references) on one layout; caches per-node masks."""

    def __init__(self, layout: Layout, token_mask: Callable[[A.Node], np.ndarray]):
        self.lay = layout
        self.B = layout.M + 1
        self._token_mask = token_mask
        self._cache: dict[tuple[str, int], object] = {}
        self.ALL = np.ones(self.B, dtype=bool)
        self.MIN = _Min()

    def _memo(self, kind: str, node: A.Node, make):
        key = (kind, id(node))
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def tok(self, node: A.Node) -> np.ndarray:
        """(M,) positions whose token satisfies the predicate."""
        return self._memo("tok", node, lambda: self._token_mask(node))

    def word(self, node: A.Word) -> np.ndarray:
        return self._memo("word", node, lambda: word_index(self.lay).match(node.source, node.flags))

    # ---- empty matches ------------------------------------------------------------------
    def null(self, node: A.Node):
        """Where ``node`` matches the empty span: None (nowhere), True (everywhere) or a mask."""
        return self._memo("null", node, lambda: self._null(node))

    def _null(self, node):
        if isinstance(node, (*A.TOKEN_NODES, A.Word)):
            return None
        if isinstance(node, A.DocStart):
            return self.lay.doc_start
        if isinstance(node, A.DocEnd):
            return self.lay.doc_end
        if isinstance(node, A.Look):
            return self.look(node)
        if isinstance(node, (A.Capture, A.Mark)):
            return self.null(node.body)
        if isinstance(node, A.Repeat):
            return True if node.min == 0 else self.null(node.body)
        if isinstance(node, A.Seq):
            out = True
            for item in node.items:
                n = self.null(item)
                if n is None:
                    return None
                out = n if out is True else (out if n is True else out & n)
            return out
        if isinstance(node, A.Alt):
            nulls = [self.null(o) for o in node.options]
            if any(n is True for n in nulls):
                return True
            out = None
            for n in nulls:
                out = _or(out, n)
            return out
        raise NotImplementedError(f"{type(node).__name__} needs the back-reference matcher")

    def look(self, node: A.Look) -> np.ndarray:
        body = node.body
        if node.direction == "ahead":
            found = self.bwd_full(body, self.ALL)
        else:
            found = self.fwd_full(body, self.ALL, BOOL)
        if found is None:
            found = np.zeros(self.B, dtype=bool)
        return ~found if node.negate else found

    # ---- reach --------------------------------------------------------------------------
    def fwd_full(self, node, X, ops):
        return ops.union(self.fwd(node, X, ops), ops.restrict(X, self.null(node)))

    def bwd_full(self, node, E):
        return _or(self.bwd(node, E), BOOL.restrict(E, self.null(node)))

    def fwd(self, node, X, ops):
        """Ends reached from X by spans of ``node`` consuming >= 1 token (None: none)."""
        if X is None:
            return None
        if isinstance(node, A.TOKEN_NODES):
            return ops.token(X, self.tok(node))
        if isinstance(node, A.Word):
            return ops.word(X, self.word(node), self.lay.word_end)
        if isinstance(node, (A.DocStart, A.DocEnd, A.Look)):
            return None
        if isinstance(node, (A.Capture, A.Mark)):
            return self.fwd(node.body, X, ops)
        if isinstance(node, A.Alt):
            out = None
            for o in node.options:
                out = ops.union(out, self.fwd(o, X, ops))
            return out
        if isinstance(node, A.Seq):
            zero, moved = X, None
            for item in node.items:
                n = self.null(item)
                step = self.fwd(item, ops.union(zero, moved), ops)
                moved = ops.union(step, ops.restrict(moved, n))
                zero = ops.restrict(zero, n)
            return moved
        if isinstance(node, A.Repeat):
            tok = token_body(node.body)
            if tok is None:
                return self._iterate(node, X, ops, lambda S: self.fwd(node.body, S, ops))
            T = self.tok(tok)
            if node.max is None:  # lo - 1 single steps, then a run scan
                for _ in range(node.min - 1):
                    X = ops.token(X, T)
                return ops.star(X, T)
            if node.max <= SMALL_REPEAT:
                return self._iterate(node, X, ops, lambda S: ops.token(S, T))
            return ops.token_run(X, T, node.min, node.max)
        raise NotImplementedError(f"{type(node).__name__} needs the back-reference matcher")

    def bwd(self, node, E):
        """Starts from which spans of ``node`` consuming >= 1 token reach E (boolean)."""
        if E is None:
            return None
        if isinstance(node, A.TOKEN_NODES):
            return self._token_back(E, self.tok(node))
        if isinstance(node, A.Word):
            out = np.zeros(self.B, dtype=bool)
            starts = self.word(node)
            out[:-1] = starts & E[np.where(starts, self.lay.word_end, 0)]
            return out
        if isinstance(node, (A.DocStart, A.DocEnd, A.Look)):
            return None
        if isinstance(node, (A.Capture, A.Mark)):
            return self.bwd(node.body, E)
        if isinstance(node, A.Alt):
            out = None
            for o in node.options:
                out = _or(out, self.bwd(o, E))
            return out
        if isinstance(node, A.Seq):
            zero, moved = E, None
            for item in reversed(node.items):
                n = self.null(item)
                step = self.bwd(item, _or(zero, moved))
                moved = _or(step, BOOL.restrict(moved, n))
                zero = BOOL.restrict(zero, n)
            return moved
        if isinstance(node, A.Repeat):
            tok = token_body(node.body)
            if tok is None:
                return self._iterate(node, E, BOOL, lambda S: self.bwd(node.body, S))
            T = self.tok(tok)
            if node.max is None:
                for _ in range(node.min - 1):
                    E = self._token_back(E, T)
                return runs.star_bool_back(E, T)
            if node.max <= SMALL_REPEAT:
                return self._iterate(node, E, BOOL, lambda S: self._token_back(S, T))
            return runs.backward_bool(E, T, node.min, node.max)
        raise NotImplementedError(f"{type(node).__name__} needs the back-reference matcher")

    def _token_back(self, E, T):
        out = np.zeros(self.B, dtype=bool)
        np.logical_and(T, E[1:], out=out[:-1])
        return out

    def _iterate(self, node: A.Repeat, X, ops, step):
        """Consuming reach of ``body{min,max}``: k >= 1 consuming iterations, k <= max, and when
        k < min an empty-matching position somewhere on the path (it supplies the missing
        zero-length iterations)."""
        if node.max == 0:
            return None
        N = self.null(node.body)
        m = 0 if N is True else node.min
        result = None
        if N is None or m <= 1:
            pre = X
            for _ in range(1, m):
                pre = step(pre)
                if not ops.any(pre):
                    return None
        else:  # split paths by whether they have passed an empty-matching position yet
            without, with_ = ops.restrict(X, ~N), ops.restrict(X, N)
            for _ in range(1, m):
                a, b = step(without), step(with_)
                without = ops.restrict(a, ~N)
                with_ = ops.union(b, ops.restrict(a, N))
                result = ops.union(result, with_)
            pre = ops.union(without, with_)
        cur = step(pre)
        if not ops.any(cur):
            return result
        count, seen = max(m, 1), cur
        result = ops.union(result, cur)
        while node.max is None or count < node.max:
            cur = step(cur)
            count += 1
            if not ops.any(cur):
                break
            cur = ops.newer(cur, seen)
            if not ops.any(cur):
                break
            seen = ops.union(seen, cur)
            result = ops.union(result, cur)
        return result

    # ---- @: tokens consumed on paths from In to Out ---------------------------------------
    def marks(self, node, In, Out, marked: bool = False):
        """(M,) tokens consumed by @-marked items (all consumed tokens when ``marked``) on paths
        of ``node`` from a boundary in In to one in Out; None when there are none."""
        if In is None or Out is None:
            return None
        if isinstance(node, A.Mark):
            return self.marks(node.body, In, Out, True)
        if not marked and not has_mark(node):
            return None
        if isinstance(node, A.TOKEN_NODES):
            return In[:-1] & self.tok(node) & Out[1:]
        if isinstance(node, A.Word):
            starts = np.flatnonzero(In[:-1] & self.word(node))
            ends = self.lay.word_end[starts]
            keep = Out[ends]
            delta = np.zeros(self.B, dtype=np.int32)
            np.add.at(delta, starts[keep], 1)
            np.add.at(delta, ends[keep], -1)
            return np.cumsum(delta[:-1]) > 0
        if isinstance(node, A.Capture):
            return self.marks(node.body, In, Out, marked)
        if isinstance(node, A.Alt):
            out = None
            for o in node.options:
                out = _or(out, self.marks(o, In, Out, marked))
            return out
        if isinstance(node, A.Seq):
            items = node.items
            ins = [In]
            for item in items[:-1]:
                ins.append(self.fwd_full(item, ins[-1], BOOL))
            out, after = None, Out
            for item, before in zip(reversed(items), reversed(ins)):
                out = _or(out, self.marks(item, before, after, marked))
                after = self.bwd_full(item, after)
            return out
        if isinstance(node, A.Repeat):
            tok = token_body(node.body)
            body = node.body
            while isinstance(body, A.Capture):
                body = body.body
            if isinstance(body, A.Mark) and token_body(body.body) is not None:
                tok, marked = token_body(body.body), True
            if tok is not None and node.max is None and marked:
                return runs.cover_star(In, Out, self.tok(tok), node.min)
            out = None
            for before, after in self._iterations(node, In, Out):
                out = _or(out, self.marks(node.body, before, after, marked))
            return out
        return None  # zero-width items consume nothing

    def _iterations(self, node: A.Repeat, In, Out):
        """(boundaries before, boundaries after) of each iteration on some In -> Out path.

        States are (k, f): k consuming iterations so far (capped at ``min`` when unbounded) and,
        while k < min, f = whether an empty-matching position was passed (see ``_iterate``)."""
        body, N = node.body, self.null(node.body)
        m = 0 if N is True else node.min
        n = node.max
        flagged = isinstance(N, np.ndarray) and m >= 1

        def fstep(S):
            return self.fwd(body, S, BOOL)

        def bstep(S):
            return self.bwd(body, S)

        def closure(S, step):
            seen = S
            while S is not None:
                S = step(S)
                S = None if S is None else S & ~seen
                if not BOOL.any(S):
                    break
                seen = seen | S
            return seen

        fwd: list[dict[int, np.ndarray | None]] = []
        cur = {0: In & ~N, 1: In & N} if flagged else {0: In}
        while True:
            k = len(fwd)
            if n is None and k == m:
                fwd.append({0: closure(_or(cur.get(0), cur.get(1)), fstep)})
                break
            fwd.append(cur)
            if n is not None and k == n:
                break
            nxt: dict[int, np.ndarray | None] = {}
            for f, S in cur.items():
                G = fstep(S)
                if not flagged or k + 1 >= m:
                    nxt[0] = _or(nxt.get(0), G)
                elif f == 1:
                    nxt[1] = _or(nxt.get(1), G)
                else:
                    nxt[1] = _or(nxt.get(1), BOOL.restrict(G, N))
                    nxt[0] = _or(nxt.get(0), BOOL.restrict(G, ~N))
            if all(S is None for S in nxt.values()):
                break
            cur = nxt
        last = len(fwd) - 1

        # back[k][f]: boundaries from which state (k, f) can still finish at Out.
        back: dict[int, dict[int, np.ndarray | None]] = {}
        if n is None:
            loop = closure(Out, bstep)
            for k in range(m, last + 2):
                back[k] = {0: loop}
        else:
            within = [Out]  # within[j]: Out reached in at most j more iterations
            top = min(n, last + 1)
            need = n - max(m, 0)
            while len(within) <= need:
                nxt = _or(Out, bstep(within[-1]))
                if nxt is within[-1] or np.array_equal(nxt, within[-1]):
                    break
                within.append(nxt)
            for k in range(max(m, 0), top + 1):
                back[k] = {0: within[min(n - k, len(within) - 1)]}

        def z(a):
            return np.zeros(self.B, dtype=bool) if a is None else a

        def target(k, f):
            nxt = back.get(k + 1, {0: None, 1: None})  # missing: no iteration goes past k
            if not flagged or k + 1 >= m:
                return nxt[0]
            if f == 1:
                return nxt[1]
            return np.where(N, z(nxt[1]), z(nxt[0]))

        for k in range(min(m, last + 1) - 1, -1, -1):
            back[k] = {}
            for f in (0, 1) if flagged else (0,):
                here = Out if f == 1 else None
                back[k][f] = _or(here, bstep(target(k, f)))

        for k in range(last + 1):
            if n is None and k == m:
                if fwd[k][0] is not None:
                    yield fwd[k][0], back[k][0]
                continue
            if n is not None and k == n:
                continue
            for f, S in fwd[k].items():
                if S is not None:
                    yield S, target(k, f)
