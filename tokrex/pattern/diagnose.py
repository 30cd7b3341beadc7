"""Friendly messages for lark's parse errors: one sentence and the offending position.

Clear-cut cases (an unclosed quote or group, two quantifiers in a row, a bad character) are
recognised directly; the rest are matched against a table of known-bad patterns by parser
state with lark's ``match_examples``.
"""

from __future__ import annotations

from typing import Callable

from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from tokrex.errors import PatternSyntaxError

# label -> known-bad patterns that end in the same parser state; the label is the message.
EXAMPLES: dict[str, list[str]] = {
    "empty class: put at least one atom inside [...]": ["[]", '"a" []'],
    "empty alternative inside [...]: each side of '|' needs an atom": ['["a" |]', '[| "a"]', '["a" || "b"]'],
    "missing atom after '&' inside [...]": ['["a" &]', '["a" & | "b"]'],
    "missing atom after '!'": ['[!]', '"a" !', "!)", "!|"],
    "inside [...] combine atoms with |, & or !, not by juxtaposition": ['["a" "b"]', '[. .]', '["a" T1]'],
    "only single-token atoms can go inside [...]": ['[^]', '["a"*]', '[(?="a")]', '[<"a">]', '[@"a"]'],
    "'@' goes once, right before the item it marks": ['@@"a"', '@ | "a"', '"a" @'],
    "'=' is only allowed after the name at the start of a definition line (name = PATTERN)": [
        '"a" = "b"', "x = y = z", "T1 = ."
    ],
    "a word atom is written <\"RE\"> with the regex in quotes": ["<a>", "<.>", '<"a" "b">', "<>"],
    "'>' only closes a word atom <\"RE\">": ['"a" >', '> "a"'],
    "a latent threshold is written L42>0.5": ["L4 > 0.5"],
}


def _mask_quotes(text: str) -> str:
    """``text`` with the contents of quoted regexes blanked, so brackets in them are not counted."""
    out, i, quoted = [], 0, False
    while i < len(text):
        ch = text[i]
        if quoted and ch == "\\" and i + 1 < len(text):
            out.append("  ")
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
            out.append(ch)
        elif ch == "\n":
            quoted = False
            out.append(ch)
        else:
            out.append(" " if quoted else ch)
        i += 1
    return "".join(out)


def _unclosed_opener(text: str, pos: int, opener: str) -> int | None:
    """Position of the innermost opener (``(``, ``[`` or ``<``) still open at ``pos`` on its line."""
    masked = _mask_quotes(text)
    start = masked.rfind("\n", 0, pos) + 1
    pairs = {"(": ")", "[": "]", "<": ">"}
    stack: list[tuple[str, int]] = []
    i = start
    while i < pos:
        ch = masked[i]
        if ch == "#":
            break
        if ch in pairs:
            stack.append((ch, i))
        elif ch in ")]>" and stack and pairs[stack[-1][0]] == ch:
            stack.pop()
        i += 1
    for ch, where in reversed(stack):
        if ch == opener:
            return where
    return None


def _previous_char(text: str, pos: int) -> str:
    j = pos - 1
    while j >= 0 and text[j] in " \t\r\f":
        j -= 1
    return text[j] if j >= 0 else ""


def _expected(exc: UnexpectedInput) -> set[str]:
    return set(getattr(exc, "expected", None) or getattr(exc, "allowed", None) or ())


def _character_error(text: str, pos: int) -> tuple[str, int]:
    ch = text[pos]
    rest = text[pos:]
    if ch == '"':
        return "unclosed quote: this '\"' has no closing '\"' on its line", pos
    if ch == "{":
        return "unclosed '{' in a quantifier: write {m}, {m,}, {,n} or {m,n}", pos
    if rest.startswith("(?<"):
        return "bad capture name: write (?<name> ...) with a name of letters, digits and '_'", pos
    if rest.startswith("(?"):
        return "unknown group type: use (?: (?= (?! (?<= (?<! or (?<name>", pos
    if rest.startswith("\\k"):
        return "bad back-reference: write \\k<name>", pos
    if ch == "\\":
        return "a backslash outside quotes only starts a back-reference \\k<name>; put regex escapes inside quotes", pos
    if ch == "'":
        return "regexes are quoted with double quotes: \"...\"", pos
    if rest.startswith("L") and rest[1:2].isdigit():
        return "bad latent atom: write L42 or L42>0.5", pos
    return f"unexpected character {ch!r}", pos


def _describe(token) -> str:
    if token.type in ("$END",):
        return "end of pattern"
    if token.type == "_NL":
        return "end of line"
    return repr(str(token))


def _match_examples(exc: UnexpectedInput, parse_fn: Callable[[str], object]) -> str | None:
    """The label of the known-bad example that fails in the same parser state (and, for an
    unexpected token, with the same acceptable tokens) as ``exc``; an exact token match wins.

    (lark's own ``match_examples`` does the same, but with ``use_accepts`` one of its debug
    log lines raises TypeError for some inputs, e.g. ``(x = "a")``.)"""
    candidate = None
    for label, examples in EXAMPLES.items():
        for malformed in examples:
            try:
                parse_fn(malformed)
            except UnexpectedInput as ut:
                if ut.state != exc.state:
                    continue
                if isinstance(exc, UnexpectedToken) and isinstance(ut, UnexpectedToken) and ut.accepts != exc.accepts:
                    continue
                if isinstance(ut, (UnexpectedToken, UnexpectedEOF)) and ut.token == exc.token:
                    return label
                if candidate is None:
                    candidate = label
    return candidate


def diagnose(text: str, exc: UnexpectedInput, parse_fn: Callable[[str], object]) -> PatternSyntaxError:
    """Turn a lark error on ``text`` into a PatternSyntaxError with one sentence and a position."""
    if isinstance(exc, UnexpectedCharacters):
        message, pos = _character_error(text, exc.pos_in_stream)
        return PatternSyntaxError(message, text, pos)

    token = getattr(exc, "token", None)
    at_end = isinstance(exc, UnexpectedEOF) or token is None or token.type in ("$END", "_NL")
    pos = len(text) if isinstance(exc, UnexpectedEOF) or token is None or token.type == "$END" else token.start_pos
    if pos is None or pos < 0:
        pos = len(text)
    expected = _expected(exc)

    closers = ("RPAR", "RBRACK", "GT")
    for closer, opener, what in (("RPAR", "(", "group"), ("RBRACK", "[", "'['"), ("GT", "<", "word atom")):
        if closer in expected and (at_end or token.type in closers and token.type != closer):
            where = _unclosed_opener(text, pos, opener)
            if where is not None:
                close = {"(": ")", "[": "]", "<": ">"}[opener]
                label = f"unclosed {what}: this '{opener}' has no matching '{close}'"
                return PatternSyntaxError(label, text, where)

    if token is not None and token.type == "QUANT":
        previous = _previous_char(text, pos)
        if previous == "(" and str(token) == "?":
            if text.startswith("?<", pos):
                return PatternSyntaxError(
                    "bad capture name: write (?<name> ...) with a name of letters, digits and '_'", text, pos - 1
                )
            return PatternSyntaxError("unknown group type: use (?: (?= (?! (?<= (?<! or (?<name>", text, pos - 1)
        if _unclosed_opener(text, pos, "[") is not None and _unclosed_opener(text, pos, "(") is None:
            return PatternSyntaxError("only single-token atoms can go inside [...]; put quantifiers after ']'",
                                      text, pos)
        if previous and previous in "*+?}":
            message = "two quantifiers in a row; group the item with its first quantifier, as in (\"a\"*)?"
        else:
            message = "nothing to repeat: a quantifier must follow an item"
        return PatternSyntaxError(message, text, pos)
    if token is not None and token.type in ("RPAR", "RBRACK") and _unclosed_opener(
        text, pos, "(" if token.type == "RPAR" else "["
    ) is None:
        return PatternSyntaxError(f"unmatched '{token}': nothing to close", text, pos)

    if token is not None and token.type == "EQ":
        return PatternSyntaxError(next(k for k in EXAMPLES if k.startswith("'='")), text, pos)

    label = None
    if isinstance(exc, (UnexpectedToken, UnexpectedEOF)) and exc.state is not None:
        label = _match_examples(exc, parse_fn)
    if label is None:
        desc = _describe(token) if token is not None else "end of pattern"
        label = f"unexpected {desc}"
    return PatternSyntaxError(label, text, pos)
