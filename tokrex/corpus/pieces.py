"""Turning a tokenizer's stored pieces into display text: surface, core and word_start.

Tokenizers mark word starts in different ways; this module recognizes three families
from the tokenizer's own description (its ``tokenizer.json``) and normalizes every piece:

- ``byte_level`` (GPT-2, Llama-3): pieces are bytes written with the GPT-2 byte-to-character
  table; ``Ġ`` is the space byte. A piece is mapped back to its bytes and decoded as UTF-8.
- ``metaspace`` (SentencePiece, Llama-2, T5): ``▁`` stands for a space; byte-fallback pieces
  ``<0x0A>`` stand for one byte each.
- ``wordpiece`` (BERT): a piece that starts with ``##`` continues a word; every other piece
  starts one.

Anything else is ``plain``: the piece is its own text.

Bytes that are not valid UTF-8 on their own (half of a multi-byte character) are written
``<0xE2>``, one such group per invalid byte, upper-case hex: a stable text that never changes
between runs and equals SentencePiece's own spelling of byte-fallback pieces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

Family = Literal["byte_level", "metaspace", "wordpiece", "plain"]

METASPACE = "\u2581"  # ▁
_BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")


def byte_to_char() -> dict[int, str]:
    """The GPT-2 byte-level table: printable Latin-1 bytes stand for themselves, the other
    bytes (controls, space, a few Latin-1 gaps) take characters from U+0100 on, in byte order."""
    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(0x100 + extra)
            extra += 1
    return table


_CHAR_TO_BYTE = {c: b for b, c in byte_to_char().items()}


def decode_stable(data: bytes) -> str:
    """UTF-8 decode; each byte that is not part of a valid character becomes ``<0xHH>``."""
    parts: list[str] = []
    while data:
        try:
            parts.append(data.decode("utf-8"))
            break
        except UnicodeDecodeError as exc:
            parts.append(data[: exc.start].decode("utf-8"))
            parts.extend(f"<0x{b:02X}>" for b in data[exc.start : exc.end])
            data = data[exc.end :]
    return "".join(parts)


@dataclass(frozen=True)
class Normalized:
    """One vocabulary entry, normalized."""

    surface: str
    """Text with a word-start marker turned into exactly one leading space."""
    core: str
    """Surface without that leading space."""
    word_start: bool
    """The piece carries a word-start marker."""
    data: bytes
    """The bytes this token stands for in the text (used to join tokens for display)."""


def _types(obj: Any) -> set[str]:
    """Every component ``type`` named anywhere in a tokenizer.json section."""
    found: set[str] = set()
    if isinstance(obj, dict):
        if isinstance(obj.get("type"), str):
            found.add(obj["type"])
        for value in obj.values():
            found |= _types(value)
    elif isinstance(obj, list):
        for value in obj:
            found |= _types(value)
    return found


def _mentions(obj: Any, text: str) -> bool:
    if isinstance(obj, str):
        return text in obj
    if isinstance(obj, dict):
        return any(_mentions(v, text) for v in obj.values())
    if isinstance(obj, list):
        return any(_mentions(v, text) for v in obj)
    return False


def detect_family(spec: dict) -> Family:
    """The word-marking family of a tokenizer, from its parsed ``tokenizer.json``."""
    model = spec.get("model") or {}
    if model.get("type") == "WordPiece":
        return "wordpiece"
    pre, dec, norm = spec.get("pre_tokenizer"), spec.get("decoder"), spec.get("normalizer")
    if "ByteLevel" in _types(pre) | _types(dec):
        return "byte_level"
    if "Metaspace" in _types(pre) | _types(dec) or _mentions(norm, METASPACE) or _mentions(dec, METASPACE):
        return "metaspace"
    if "WordPiece" in _types(dec):
        return "wordpiece"
    return "plain"


def _with_marker(text: str, data: bytes, word_start: bool) -> Normalized:
    return Normalized(text, text[1:] if word_start else text, word_start, data)


def normalize_piece(piece: str, family: Family, *, prefix: str = "##", byte_fallback: bool = False) -> Normalized:
    """Normalize one ordinary (not added) vocabulary piece of the given family."""
    if family == "byte_level":
        data = b"".join(
            bytes([_CHAR_TO_BYTE[c]]) if c in _CHAR_TO_BYTE else c.encode("utf-8") for c in piece
        )
        text = decode_stable(data)
        return _with_marker(text, data, text.startswith(" "))
    if family == "metaspace":
        m = _BYTE_PIECE.fullmatch(piece) if byte_fallback else None
        if m:
            data = bytes([int(m.group(1), 16)])
            return Normalized(decode_stable(data), decode_stable(data), False, data)
        text = piece.replace(METASPACE, " ")
        return _with_marker(text, text.encode("utf-8"), piece.startswith(METASPACE))
    if family == "wordpiece":
        if prefix and piece.startswith(prefix) and len(piece) > len(prefix):
            core = piece[len(prefix) :]
            return Normalized(core, core, False, core.encode("utf-8"))
        text = " " + piece
        return Normalized(text, piece, True, text.encode("utf-8"))
    return _with_marker(piece, piece.encode("utf-8"), piece.startswith(" "))


def normalize_added(content: str, special: bool) -> Normalized:
    """An added token (matched verbatim in the text). Special tokens (BOS, [CLS]...) are
    neither word starts nor joined: their text is the content as is."""
    if special:
        return Normalized(content, content, False, content.encode("utf-8"))
    return _with_marker(content, content.encode("utf-8"), content.startswith(" "))


def normalize_vocab(spec: dict, pieces: list[str | None], added: dict[int, tuple[str, bool]]) -> tuple[Family, list[Normalized]]:
    """Normalize a whole vocabulary.

    ``spec`` is the parsed ``tokenizer.json``; ``pieces[i]`` the piece of id ``i`` (None for an
    unused id); ``added`` maps added-token ids to ``(content, special)``.
    """
    family = detect_family(spec)
    model = spec.get("model") or {}
    prefix = model.get("continuing_subword_prefix") or "##"
    byte_fallback = bool(model.get("byte_fallback")) or "ByteFallback" in _types(spec.get("decoder"))
    out: list[Normalized] = []
    for i, piece in enumerate(pieces):
        if i in added:
            out.append(normalize_added(*added[i]))
        elif piece is None:
            out.append(Normalized("", "", False, b""))
        else:
            out.append(normalize_piece(piece, family, prefix=prefix, byte_fallback=byte_fallback))
    return family, out
