"""Bad patterns: one sentence each, the caret under the offending character, exit code 2."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pattern_fixtures import make_vocab
from tokrex.errors import NeedsSaeError, PatternError, PatternSyntaxError
from tokrex.pattern import compile, parse

VOCAB = make_vocab(["a", " b", "c"])

# pattern, message fragment, 0-based position of the caret
BAD = [
    ('("a" "b"', "unclosed group: this '(' has no matching ')'", 0),
    ('"a" (?: "b" | ("c")', "unclosed group", 4),
    ('"a', "unclosed quote", 0),
    ('"a" "b', "unclosed quote", 4),
    ('["a" | "b"', "unclosed '['", 0),
    ('[("a" | "b"]', "unclosed group", 1),
    ('<"a"', "unclosed word atom", 0),
    ('"a" )', "unmatched ')'", 4),
    ('"a" | | "b"', "empty alternative", 6),
    ('("a" |)', "empty alternative", 5),
    ('| "a"', "empty alternative", 0),
    ("()", "empty group", 0),
    ("(?=)", "empty group", 0),
    ("x =\nx", "empty definition", 2),
    ('"a"{3,1}', "bad quantifier range {3,1}: the minimum 3 is larger than the maximum 1", 3),
    ('"a"{x}', "bad quantifier {x}", 3),
    ('"a"{,}', "bad quantifier {,}", 3),
    ('"a"{}', "bad quantifier {}", 3),
    ('"a"{2', "unclosed '{' in a quantifier", 3),
    ('"a"**', "two quantifiers in a row", 4),
    ('"a"*?', "two quantifiers in a row", 4),
    ('"a"{2}+', "two quantifiers in a row", 6),
    ('* "a"', "nothing to repeat", 0),
    ('"a" | + "b"', "nothing to repeat", 6),
    ('"a(b"', "invalid regex: missing )", 2),
    ('"b" "[a-"', "invalid regex: unterminated character set", 5),
    ('"\\p{Nope}"', "invalid regex: unknown property", 1),
    ('"a{2,1}"', "invalid regex: min repeat greater than max repeat", 3),
    ('"a\\"(" "b"', "invalid regex: missing )", 4),
    ('!("a" "b")', "'!' negates a single token; to exclude a longer pattern use a negative lookahead (?!...)", 0),
    ('!<"ab">', "use a negative lookahead (?!...)", 0),
    ('"a" !^', "'!' negates a single token", 4),
    ("\\k<x>", "undefined capture in \\k<x>", 0),
    ('"a" (?<y>.) \\k<x>', "undefined capture in \\k<x>", 12),
    ('(?= (?<x>.)) \\k<x>', "capture 'x' is made inside a lookaround and is not visible here", 13),
    ('(?= (?<x>.)) (?= \\k<x>)', "not visible here", 17),
    ('"a" (?= @"b")', "'@' cannot be used inside a lookaround", 8),
    ('@^ "a"', "'@' marks consumed tokens, but this item never consumes any", 0),
    ('"a" @(?= "b")', "never consumes any", 4),
    ('"a" @$', "never consumes any", 4),
    ('"a"wc', "flags w and c contradict each other", 4),
    ('"a"cw', "flags w and c contradict each other", 4),
    ('"a"x', "unknown flag 'x' for token atoms; the flags are i, s, w, c", 3),
    ('<"a"w>', "unknown flag 'w' for word atoms; the flags are i", 4),
    ("pet", "unknown name 'pet': define it on an earlier line as pet = PATTERN", 0),
    ('"a" Pet', "unknown name 'Pet'", 4),
    ('pet = "a"\nPet = "b"\npet', "defined names start with a lowercase letter", 10),
    ('pet = "a"\npet = "b"\npet', "name 'pet' is already defined on line 1", 10),
    ('two = "a" "b"\n[two | "c"]', "name 'two' is not a single-token pattern, so it cannot be used inside [...]", 15),
    ('"a"\n"b"', "a pattern has exactly one query line, but line 1 is one already", 4),
    ('x = "a"\n# only a definition', "the pattern has no query line", 27),
    ("", "the pattern has no query line", 0),
    ("[]", "empty class", 1),
    ('["a" "b"]', "combine atoms with |, & or !, not by juxtaposition", 5),
    ('["a" |]', "empty alternative inside [...]", 6),
    ('["a"*]', "only single-token atoms can go inside [...]; put quantifiers after ']'", 4),
    ('[<"a">]', "only single-token atoms can go inside [...]", 1),
    ('"a" = "b"', "'=' is only allowed after the name at the start of a definition line", 4),
    ('("a" x = "b")', "'=' is only allowed after the name at the start of a definition line", 7),
    ('(x = "a")', "'=' is only allowed after the name", 3),
    ("(?P<x>.)", "unknown group type", 0),
    ("(?<1x>.)", "bad capture name", 0),
    ("\\d", "a backslash outside quotes only starts a back-reference", 0),
    ("'a'", "regexes are quoted with double quotes", 0),
    ('"a" @', "'@' goes once, right before the item it marks", 5),
    ("L4>", "a latent threshold is written L42>0.5", 2),
    ('"a" % "b"', "unexpected character '%'", 4),
]


@pytest.mark.parametrize("pattern,fragment,pos", BAD, ids=[b[0] for b in BAD])
def test_bad_pattern(pattern, fragment, pos):
    with pytest.raises(PatternSyntaxError) as info:
        compile(pattern, VOCAB)
    err = info.value
    assert fragment in err.message
    assert err.pos == pos, f"caret at {err.pos}: {err.render()}"
    assert err.exit_code == 2
    assert "\n" not in err.message and err.message.count(". ") == 0, "one sentence"
    lines = err.render().split("\n")
    assert lines[-1] == " " * (err.column - 1) + "^"
    assert lines[-2] == pattern.split("\n")[err.line - 1]


def test_pattern_that_parses_but_means_nothing_is_a_pattern_error():
    with pytest.raises(PatternError):
        parse('!("a" "b")')
    with pytest.raises(PatternError):
        parse("\\k<x>")


def test_multiline_error_names_line_and_column():
    with pytest.raises(PatternSyntaxError) as info:
        parse('x = "a"\nx "(b"')
    err = info.value
    assert (err.line, err.column) == (2, 4)
    assert "(line 2, column 4)" in err.render()
    assert err.render().endswith('x "(b"\n   ^')


def test_latent_atom_needs_an_sae():
    with pytest.raises(NeedsSaeError) as info:
        compile('"a" L42>0.5', VOCAB)
    err = info.value
    assert err.message == "latent atom L42>0.5 needs an SAE: pass --sae"
    assert err.pos == 4 and err.exit_code == 2
    with pytest.raises(NeedsSaeError, match="latent atom L7 needs an SAE"):
        compile('["a" & !L7]', VOCAB)


def test_token_id_outside_the_vocabulary():
    with pytest.raises(PatternError, match="token id 9 is outside the vocabulary") as info:
        compile('"a" T9', VOCAB)
    assert info.value.pos == 4


def test_unused_definitions_are_still_checked():
    with pytest.raises(PatternSyntaxError, match="invalid regex"):
        parse('bad = "("\n"a"')


PIECES = [
    '"a"', '"a"i', '"b"wc', '"("', ".", "T1", "T99", "L1", "L2>0.5", '<"a">', "[", "]", "(", ")", "(?:", "(?=",
    "(?<!", "(?<x>", "\\k<x>", "@", "!", "|", "&", "?", "*", "{2}", "{2,1}", "{", "}", "^", "$", " ", "\n",
    "x = ", "x", "#c", '"', "<", ">", "=", "\t", "'", "\\",
]


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=10))
def test_any_text_compiles_or_raises_a_pattern_error(pieces):
    """Whatever the text, compiling either works or raises PatternSyntaxError with a position
    inside it: never another exception (which the CLI would show as a traceback)."""
    text = "".join(pieces)
    try:
        compile(text, VOCAB, latents=True)
    except PatternSyntaxError as err:
        assert 0 <= err.pos <= len(text) and err.message and "\n" not in err.message
