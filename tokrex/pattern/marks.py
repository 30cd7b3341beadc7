"""``@``: the tokens consumed by marked items, by a forward-backward pass.

A token is a positive when some match consumes it inside an ``@`` item.  For an item between
boundary sets In (reachable from a match start) and Out (from which the match can finish), the
consumed tokens are found by recursion: a sequence hands each item the boundaries reachable
before it and those co-reachable after it; a repetition does the same per iteration, tracking
the iteration count (and whether an empty-matching position was passed, for ``{m,}`` with
``m > 1``); a single token t is consumed when In[t], the token matches, and Out[t+1].
"""

from __future__ import annotations

import numpy as np

from tokrex.pattern import ast as A
from tokrex.pattern import runs
from tokrex.pattern.match import BOOL, Engine, _or, has_mark, token_body


def marks(engine: Engine, node: A.Node, In, Out, marked: bool = False):
    """(M,) tokens consumed by @-marked items (all consumed tokens when ``marked``) on paths
    of ``node`` from a boundary in In to one in Out; None when there are none."""
    if In is None or Out is None:
        return None
    if isinstance(node, A.Mark):
        return marks(engine, node.body, In, Out, True)
    if not marked and not has_mark(node):
        return None
    if isinstance(node, A.TOKEN_NODES):
        return In[:-1] & engine.tok(node) & Out[1:]
    if isinstance(node, A.Word):
        starts = np.flatnonzero(In[:-1] & engine.word(node))
        ends = engine.lay.word_end[starts]
        keep = Out[ends]
        delta = np.zeros(engine.B, dtype=np.int32)
        np.add.at(delta, starts[keep], 1)
        np.add.at(delta, ends[keep], -1)
        return np.cumsum(delta[:-1]) > 0
    if isinstance(node, A.Capture):
        return marks(engine, node.body, In, Out, marked)
    if isinstance(node, A.Alt):
        out = None
        for o in node.options:
            out = _or(out, marks(engine, o, In, Out, marked))
        return out
    if isinstance(node, A.Seq):
        items = node.items
        ins = [In]
        for item in items[:-1]:
            ins.append(engine.fwd_full(item, ins[-1], BOOL))
        out, after = None, Out
        for item, before in zip(reversed(items), reversed(ins)):
            out = _or(out, marks(engine, item, before, after, marked))
            after = engine.bwd_full(item, after)
        return out
    if isinstance(node, A.Repeat):
        tok = token_body(node.body)
        body = node.body
        while isinstance(body, A.Capture):
            body = body.body
        if isinstance(body, A.Mark) and token_body(body.body) is not None:
            tok, marked = token_body(body.body), True
        if tok is not None and node.max is None and marked:
            return runs.cover_star(In, Out, engine.tok(tok), node.min)
        out = None
        for before, after in iterations(engine, node, In, Out):
            out = _or(out, marks(engine, node.body, before, after, marked))
        return out
    return None  # zero-width items consume nothing


def iterations(engine: Engine, node: A.Repeat, In, Out):
    """(boundaries before, boundaries after) of each iteration on some In -> Out path.

    States are (k, f): k consuming iterations so far (capped at ``min`` when unbounded) and,
    while k < min, f = whether an empty-matching position was passed (see ``_iterate``)."""
    body, N = node.body, engine.null(node.body)
    m = 0 if N is True else node.min
    n = node.max
    flagged = isinstance(N, np.ndarray) and m >= 1

    def fstep(S):
        return engine.fwd(body, S, BOOL)

    def bstep(S):
        return engine.bwd(body, S)

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
        return np.zeros(engine.B, dtype=bool) if a is None else a

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
