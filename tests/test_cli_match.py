"""`tokrex match`: the JSON schema, row formats, the keyword-in-context table, errors and exit codes.

Expected results are computed here by brute force over the store's vocabulary and ids.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import regex
from typer.testing import CliRunner

from corpus_fixtures import gpt2_store  # noqa: F401
from tokrex.cli.app import app
from tokrex.corpus import open_corpus

KEYS = ["pattern", "n_docs", "n_tokens", "n_matches", "n_positives", "positives", "matches"]
CAP = '"[A-Z][a-z]*"'


@pytest.fixture(scope="module")
def runner():
    return CliRunner(env={"COLUMNS": "120", "NO_COLOR": "1"})


@pytest.fixture(scope="module")
def corpus(gpt2_store):
    return open_corpus(gpt2_store)


def _doc_pos(c, g):
    d = int(np.searchsorted(c.doc_offsets, g, side="right") - 1)
    return d, int(g - c.doc_offsets[d])


def brute(c, regexes, target=None):
    """Matches of a fixed-length sequence of core regexes: (positives, matches) in the JSON form."""
    rxs = [regex.compile(r) for r in regexes]
    n = len(rxs)
    target = target if target is not None else [n - 1]
    positives, matches = set(), []
    ids, core = c.ids.tolist(), c.vocab.core
    for d in range(c.n_docs):
        a, b = int(c.doc_offsets[d]), int(c.doc_offsets[d + 1])
        for s in range(a, b - n + 1):
            if all(rx.fullmatch(core[ids[s + k]]) for k, rx in enumerate(rxs)):
                matches.append({"doc": d, "start": s - a, "end": s - a + n})
                positives.update(s + k for k in target)
    return [list(_doc_pos(c, g)) for g in sorted(positives)], matches


def run(runner, *args):
    return runner.invoke(app, ["match", *map(str, args)])


def test_json_object_single_token(runner, gpt2_store, corpus):
    r = run(runner, CAP, "--store", gpt2_store, "--format", "json")
    assert r.exit_code == 0, r.output
    obj = json.loads(r.stdout)
    assert list(obj) == KEYS
    positives, matches = brute(corpus, ["[A-Z][a-z]*"])
    assert obj["pattern"] == CAP and (obj["n_docs"], obj["n_tokens"]) == (corpus.n_docs, corpus.n_tokens)
    assert obj["positives"] == positives and obj["matches"] == matches
    assert obj["n_positives"] == len(positives) > 20 and obj["n_matches"] == len(matches)


def test_json_sequence_and_target(runner, gpt2_store, corpus):
    obj = json.loads(run(runner, '"[A-Z][a-z]*" "[a-z]+"', "--store", gpt2_store, "--format", "json").stdout)
    positives, matches = brute(corpus, ["[A-Z][a-z]*", "[a-z]+"])
    assert obj["positives"] == positives and obj["matches"] == matches and matches
    obj = json.loads(run(runner, '@"[A-Z][a-z]*" "[a-z]+"', "--store", gpt2_store, "--format", "json").stdout)
    positives, _ = brute(corpus, ["[A-Z][a-z]*", "[a-z]+"], target=[0])
    assert obj["positives"] == positives and obj["matches"] == matches
    assert obj["positives"] == sorted(obj["positives"]) and len({tuple(p) for p in obj["positives"]}) == len(obj["positives"])


def test_longest_span_per_end(runner, gpt2_store, corpus):
    obj = json.loads(run(runner, '"[A-Z][a-z]*"? "[a-z]+"', "--store", gpt2_store, "--format", "json").stdout)
    ends = [(m["doc"], m["end"]) for m in obj["matches"]]
    assert len(ends) == len(set(ends)) == obj["n_matches"] and ends == sorted(ends)
    _, two = brute(corpus, ["[A-Z][a-z]*", "[a-z]+"])
    longest = {(m["doc"], m["end"]) for m in two}
    for m in obj["matches"]:
        assert m["end"] - m["start"] == (2 if (m["doc"], m["end"]) in longest else 1)


def test_limit_caps_the_lists_only_when_given(runner, gpt2_store):
    full = json.loads(run(runner, CAP, "--store", gpt2_store, "--format", "json").stdout)
    capped = json.loads(run(runner, CAP, "--store", gpt2_store, "--format", "json", "--limit", 3).stdout)
    assert capped["positives"] == full["positives"][:3] and capped["matches"] == full["matches"][:3]
    assert (capped["n_matches"], capped["n_positives"]) == (full["n_matches"], full["n_positives"])


def test_rows_formats(runner, gpt2_store, corpus, tmp_path):
    import pyarrow.parquet as pq

    _, matches = brute(corpus, ["[A-Z][a-z]*"])
    texts = [corpus.text(corpus.doc_tokens(m["doc"])[m["start"] : m["end"]]) for m in matches]
    rows = [json.loads(line) for line in run(runner, CAP, "--store", gpt2_store, "--format", "jsonl").stdout.splitlines()]
    assert rows == [dict(m, text=t) for m, t in zip(matches, texts)]
    csv = run(runner, CAP, "--store", gpt2_store, "--format", "csv", "--limit", 2).stdout.splitlines()
    assert csv[0] == '"doc","start","end","text"' and len(csv) == 3
    out = tmp_path / "m.parquet"
    r = run(runner, CAP, "--store", gpt2_store, "--format", "parquet", "--out", out)
    assert r.exit_code == 0 and r.stdout == ""
    assert pq.read_table(out).to_pylist() == rows
    r = run(runner, CAP, "--store", gpt2_store, "--format", "parquet")
    assert r.exit_code == 2 and "--format parquet needs --out FILE" in r.stderr


def test_count(runner, gpt2_store, corpus):
    positives, matches = brute(corpus, ["[A-Z][a-z]*"])
    r = run(runner, CAP, "--store", gpt2_store, "--count")
    assert r.exit_code == 0 and r.stdout.strip() == f"{len(matches)} matches, {len(positives)} positive tokens in {corpus.n_docs} documents ({corpus.n_tokens} tokens)."
    obj = json.loads(run(runner, CAP, "--store", gpt2_store, "--count", "--format", "json").stdout)
    assert list(obj) == KEYS[:5] and obj["n_matches"] == len(matches)
    csv = run(runner, CAP, "--store", gpt2_store, "--count", "--format", "csv").stdout.splitlines()
    assert csv[0] == '"pattern","n_docs","n_tokens","n_matches","n_positives"' and len(csv) == 2


def _table_rows(stdout):
    return [line for line in stdout.splitlines() if re.match(r"^\s*\d+\s+\d+\s", line)]


def test_table(runner, gpt2_store, corpus):
    r = run(runner, ".", "--store", gpt2_store)
    assert r.exit_code == 0, r.output
    header = r.stdout.splitlines()[0].split()
    assert header == ["doc", "pos", "left", "match", "right"]
    rows = _table_rows(r.stdout)
    assert len(rows) == 20 and rows[0].split()[:2] == ["0", "0"]
    assert f"{corpus.n_tokens} matches" in r.stdout and "showing 20" in r.stdout
    assert len(_table_rows(run(runner, ".", "--store", gpt2_store, "--limit", 3).stdout)) == 3
    assert all(len(line) <= 120 for line in r.stdout.splitlines())


def test_table_row_in_context(runner, gpt2_store, corpus):
    doc = 3  # "Harry Potter and Hermione Granger walked to Hogwarts. ..."
    ids = corpus.doc_tokens(doc)
    pos = 6
    target = int(ids[pos])
    r = run(runner, f"T{target}", "--store", gpt2_store, "--context", 3, "--limit", 1000)
    line = next(l for l in _table_rows(r.stdout) if l.split()[:2] == [str(doc), str(pos)])
    left, right = corpus.text(ids[pos - 3 : pos]), corpus.text(ids[pos + 1 : pos + 4])
    assert f"{left.strip()}" in line and right.strip() in line and corpus.vocab.surface[target].strip() in line
    r0 = run(runner, f"T{target}", "--store", gpt2_store, "--context", 0, "--limit", 1000)
    line0 = next(l for l in _table_rows(r0.stdout) if l.split()[:2] == [str(doc), str(pos)])
    assert line0.split()[2:] == corpus.vocab.surface[target].split()


def test_no_matches(runner, gpt2_store):
    r = run(runner, '"zzzzqq"', "--store", gpt2_store)
    assert r.exit_code == 0 and "0 matches, 0 positive tokens" in r.stdout and "left" not in r.stdout
    obj = json.loads(run(runner, '"zzzzqq"', "--store", gpt2_store, "--format", "json").stdout)
    assert obj["positives"] == [] and obj["matches"] == [] and obj["n_matches"] == 0


def test_pattern_file_and_out(runner, gpt2_store, tmp_path):
    script = tmp_path / "p.tokrex"
    script.write_text('# capitalized words\ncap = "[A-Z][a-z]*"\ncap\n', encoding="utf-8")
    out = tmp_path / "out.json"
    r = run(runner, "-f", script, "--store", gpt2_store, "--format", "json", "--out", out)
    assert r.exit_code == 0 and r.stdout == ""
    obj, direct = json.loads(out.read_text()), json.loads(run(runner, CAP, "--store", gpt2_store, "--format", "json").stdout)
    assert obj["pattern"] == script.read_text().rstrip("\n") and obj["positives"] == direct["positives"]
    out_txt = tmp_path / "table.txt"
    assert run(runner, CAP, "--store", gpt2_store, "--out", out_txt).exit_code == 0
    assert len(_table_rows(out_txt.read_text())) == 20


@pytest.mark.parametrize(
    "args, code, message",
    [
        ([], 2, "Give exactly one pattern"),
        ([CAP, "-f", "x.tokrex"], 2, "Give exactly one pattern"),
        (["-f", "missing.tokrex"], 2, "Pattern file missing.tokrex does not exist"),
        (['"[A-Z"'], 2, '"[A-Z"\n'),
        (['("A"'], 2, '("A"\n^'),
        (["L3"], 2, "needs an SAE"),
        (['!("a" "b")'], 2, "(?!"),
    ],
)
def test_errors(runner, gpt2_store, args, code, message):
    r = run(runner, *args, "--store", gpt2_store)
    assert r.exit_code == code, r.output
    assert r.stderr.startswith("Error: ") and message in r.stderr
    assert "Traceback" not in r.output and r.stdout == ""


def test_caret_points_inside_the_quotes(runner, gpt2_store):
    r = run(runner, '"a" "b(c"', "--store", gpt2_store)
    lines = r.stderr.splitlines()
    assert r.exit_code == 2 and lines[1] == '"a" "b(c"' and lines[2].index("^") > lines[1].index("b")


def test_missing_store(runner, tmp_path):
    r = run(runner, CAP, "--store", tmp_path / "nowhere")
    assert r.exit_code == 1 and "No corpus store at" in r.stderr


def test_match_path_stays_light(gpt2_store):
    """No torch or transformers on the `tokrex match` path (startup time)."""
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom tokrex.cli.app import app\n"
        f"r = CliRunner().invoke(app, ['match', '{CAP}', '--store', {str(gpt2_store)!r}, '--limit', '2'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print(sorted(m for m in ('torch', 'transformers', 'tokenizers', 'pandas', 'pyarrow.compute') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"




def test_error_sentence_stays_on_one_line(tmp_path, gpt2_store):
    """The error sentence is never wrapped, however narrow the terminal; the caret still lines up."""
    narrow = CliRunner(env={"COLUMNS": "40", "NO_COLOR": "1"})
    r = run(narrow, CAP, "--store", tmp_path / "nowhere")
    assert r.exit_code == 1 and r.stderr.splitlines()[0].startswith("Error: No corpus store at ")
    assert "--store" in r.stderr.splitlines()[0]
    r = run(narrow, '"x" !("a" "b")', "--store", gpt2_store)
    lines = r.stderr.splitlines()
    assert r.exit_code == 2 and "use a negative lookahead (?!...)" in lines[0]
    assert lines[1:] == ['"x" !("a" "b")', "    ^"]


def test_caret_under_tabs_and_wide_characters(runner, gpt2_store):
    r = run(runner, '\t"東京" "(x"', "--store", gpt2_store)
    lines = r.stderr.splitlines()  # the tab shows as 8 columns, each of 東京 as 2: '(' is at column 16
    assert r.exit_code == 2 and lines[1] == " " * 8 + '"東京" "(x"' and lines[2] == " " * 16 + "^"


def test_summary_counts_in_words():
    from tokrex.cli.match import _summary

    assert _summary(1, 1, 1, 1) == "1 match, 1 positive token in 1 document (1 token)"
    assert _summary(0, 2, 3, 1000) == "0 matches, 2 positive tokens in 3 documents (1,000 tokens)"


@pytest.mark.parametrize("pattern, message", [('("A"', "unclosed group"), ('"a" L42>0.5', "latent atom L42>0.5 needs an SAE")])
def test_bad_pattern_is_reported_before_the_store_is_opened(runner, tmp_path, pattern, message):
    r = run(runner, pattern, "--store", tmp_path / "nowhere")
    assert r.exit_code == 2 and message in r.stderr and "No corpus store" not in r.stderr
