"""Latent atoms in patterns: ``L42`` (latent 42 fires) and ``L42>0.5`` (its activation exceeds 0.5).

A pattern compiled with ``latents=True`` lists the atoms it needs in ``latent_atoms``; this module
turns each into a boolean mask over the corpus tokens, read from the latent-major index.
"""

from __future__ import annotations

import regex
import numpy as np

from tokrex.errors import PatternError


def atom_position(pattern: str, latent: int) -> int:
    """Character offset of the first ``L<latent>`` atom outside quotes in ``pattern`` (0 if not found)."""
    in_quote = escape = comment = False
    for i, ch in enumerate(pattern):
        if comment:
            comment = ch != "\n"
            continue
        if in_quote:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_quote = False
            continue
        if ch == '"':
            in_quote = True
        elif ch == "#":
            comment = True
        elif ch == "L" and (i == 0 or not (pattern[i - 1].isalnum() or pattern[i - 1] == "_")):
            m = regex.match(r"L(\d+)(?![\w])", pattern[i:])
            if m and int(m.group(1)) == latent:
                return i
    return 0


def _span_of(program, latent: int) -> int | None:
    """Start of the first ``L<latent>`` node in a compiled pattern's syntax tree, when it has one."""
    try:
        from tokrex.pattern import ast as A

        for node in A.walk(program.script.query):
            if isinstance(node, A.Latent) and node.latent == latent:
                return int(node.span[0])
    except (AttributeError, ImportError):
        return None
    return None


def check_latent_atoms(pattern: str, atoms: list[tuple[int, float | None]], n_latents: int, program=None) -> None:
    """Raise PatternError (with a caret) for an atom naming a latent this SAE does not have."""
    for latent, _ in atoms:
        if not 0 <= latent < n_latents:
            pos = _span_of(program, latent) if program is not None else None
            raise PatternError(
                f"Latent L{latent} does not exist: this SAE has {n_latents} latents (L0 to L{n_latents - 1}).",
                pattern,
                atom_position(pattern, latent) if pos is None else pos,
            )


def latent_masks(
    atoms: list[tuple[int, float | None]],
    offsets: np.ndarray,
    token: np.ndarray,
    act: np.ndarray,
    n_tokens: int,
) -> dict[tuple[int, float | None], np.ndarray]:
    """``{(latent, threshold): bool mask over tokens}`` from a latent-major index (``offsets`` [L+1]).

    The mask is true where the latent's activation is above the threshold (above 0 for None).
    """
    masks = {}
    for latent, thr in atoms:
        start, end = int(offsets[latent]), int(offsets[latent + 1])
        tokens = np.asarray(token[start:end], dtype=np.int64)
        if thr is not None and thr > 0:
            tokens = tokens[np.asarray(act[start:end]) > np.float64(thr)]
        mask = np.zeros(n_tokens, dtype=bool)
        mask[tokens] = True
        if thr is not None and thr < 0:  # every silent token (activation 0) is above a negative threshold
            mask[:] = True
        masks[(latent, thr)] = mask
    return masks
