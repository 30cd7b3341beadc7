"""The docs cannot go stale: every `tokrex ...` command in them names real commands and options,
concrete ones parse as the CLI would parse them, and Python snippets compile against the real API.

README.md's Python snippets also run, against a fixture store and SAE laid out where the demo
keeps its cache. docs/language.md has its own executed tests; docs/cli.md is generated.
"""

from __future__ import annotations

import ast
import importlib
import re
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest
import typer.main

from tokrex.errors import PatternSyntaxError

from store_fixtures import gpt2_sae_dir, store_corpus  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
DOCS = ["docs/design.md", "docs/scaling.md", "docs/store.md", "docs/sae.md", "docs/output.md", "docs/toy.md"]
SHELL_LANGS = {"", "sh", "bash", "shell", "console", "text"}
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*(?:[./][A-Za-z0-9_.]+)?$")  # DIR, CKPT, N, STORE/x.parquet


def readme() -> Path | None:
    """The README, whose examples are checked like the docs'."""
    path = ROOT / "README.md"
    return path if path.is_file() else None


def blocks(text: str) -> list[tuple[str, int, str]]:
    """``(language, first line number, body)`` of every fenced code block."""
    out, lang, start, body = [], None, 0, []
    for i, line in enumerate(text.splitlines(), 1):
        fence = re.match(r"^\s*```(\w*)", line)
        if fence and lang is None:
            lang, start, body = fence.group(1).lower(), i + 1, []
        elif fence:
            out.append((lang, start, "\n".join(body)))
            lang = None
        elif lang is not None:
            body.append(line)
    return out


def shell_commands(text: str) -> list[tuple[int, str]]:
    """``(line, command)`` for each `tokrex ...` line of the shell blocks (continuations joined)."""
    found = []
    for lang, start, body in blocks(text):
        if lang not in SHELL_LANGS:
            continue
        pending, first = "", 0
        for j, line in enumerate(body.splitlines()):
            stripped = line.strip()
            if pending:
                pending += " " + stripped.rstrip("\\").strip()
            elif re.match(r"^(\$ )?tokrex( |$)", stripped):
                pending, first = re.sub(r"^\$ ", "", stripped).rstrip("\\").strip(), start + j
            else:
                continue
            if not stripped.endswith("\\"):
                found.append((first, re.sub(r"\s+#\s.*$", "", pending)))
                pending = ""
    return found


def _root():
    from tokrex.cli.app import app

    return typer.main.get_command(app)


def _resolve(argv: list[str]) -> tuple[Any, list[str], list[str]]:
    """The command the words name, the words that named it, and the rest."""
    cmd, path = _root(), []
    rest = list(argv)
    while hasattr(cmd, "list_commands") and rest and not rest[0].startswith("-"):  # typer's own click: no click.Group
        sub = cmd.get_command(typer.Context(cmd), rest[0])
        if sub is None:
            raise AssertionError(f"no command `tokrex {' '.join([*path, rest[0]])}`")
        cmd, path = sub, [*path, rest.pop(0)]
    return cmd, path, rest


def _option_names(cmd: Any) -> set[str]:
    names = {"--help"}
    for p in cmd.params:
        if p.param_type_name == "option":
            names.update(p.opts)
            names.update(p.secondary_opts)
    return names


def check_command(command: str) -> str:
    """Raise AssertionError when ``command`` names a missing command or option; returns how it was checked."""
    words = shlex.split(command)
    assert words[0] == "tokrex"
    cmd, path, rest = _resolve(words[1:])
    assert path or rest == ["--version"] or rest == ["--help"], f"`{command}` names no command"
    known = _option_names(cmd)
    for word in rest:
        for part in word.split("|"):
            part = part.strip("[]().,")
            if part.startswith("-") and len(part) > 1 and not re.fullmatch(r"-\d+(\.\d+)?", part):
                assert part.split("=")[0] in known, f"`tokrex {' '.join(path)}` has no option {part} (in `{command}`)"
    sketch = any(w in ("...", "|") or w.startswith("[") or w.endswith("]") or PLACEHOLDER.match(w)
                 for w in _unquoted(command)[len(words) - len(rest):])
    if sketch:
        raw = _unquoted(command)[len(words) - len(rest):]
        if path in (["match"], ["search"]) and rest and raw[0] == "":  # a quoted pattern right after the command
            import tokrex

            tokrex.compile(rest[0], _vocab(), latents=True)
            return "options, pattern compiled"
        return "options"
    # a concrete command: parse it exactly as the CLI would (types, choices, required options)
    ctx = cmd.make_context(" ".join(["tokrex", *path]), [os_path(w) for w in rest])
    ctx.close()
    pattern = ctx.params.get("pattern") if path in (["match"], ["search"]) else None
    if pattern:
        import tokrex

        tokrex.compile(pattern, _vocab(), latents=True)  # raises PatternSyntaxError with a caret
        return "parsed, pattern compiled"
    return "parsed"


def _vocab():
    """A small real vocabulary (WordPiece, like the demo's) to compile documented patterns against."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    from tokrex.corpus import Vocab

    words = ["[UNK]", "the", "a", "cat", "sat", "ran", "\"", ".", "1", "##9", "mass", "##achusetts", "value", "##error"]
    tok = Tokenizer(models.WordPiece({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return Vocab.from_tokenizer(tok)


def _unquoted(command: str) -> list[str]:
    """The command's words as written, with quoted words blanked (their text is an argument, not syntax)."""
    lexer = shlex.shlex(command, posix=False)
    lexer.whitespace_split = True
    return ["" if w[:1] in ("'", '"') else w for w in lexer]


def os_path(word: str) -> str:
    return str(Path(word).expanduser()) if word.startswith("~") else word


def _doc_files() -> list[Path]:
    files = [ROOT / d for d in DOCS if (ROOT / d).is_file()]
    r = readme()
    return files + ([r] if r else [])


def _commands() -> list[tuple[str, int, str]]:
    out = []
    for f in _doc_files():
        for line, cmd in shell_commands(f.read_text(encoding="utf-8")):
            out.append((f.relative_to(ROOT).as_posix(), line, cmd))
    return out


COMMANDS = _commands()


def test_docs_have_commands_to_check():
    assert len(COMMANDS) >= 10
    assert readme() is not None, "README.md is missing"


@pytest.mark.parametrize("where,line,command", COMMANDS, ids=[f"{w}:{n}" for w, n, _ in COMMANDS])
def test_command_names_real_commands_and_options(where, line, command):
    check_command(command)


def test_checker_catches_stale_commands():
    with pytest.raises(AssertionError, match="no command"):
        check_command("tokrex serach PATTERN --sae CKPT")
    with pytest.raises(AssertionError, match="no option --topp"):
        check_command("tokrex search PATTERN --sae CKPT --topp 3")
    with pytest.raises(Exception, match="speed"):  # concrete: the choice is checked (typer's own click.BadParameter)
        check_command("tokrex search '\"x\"' --sae ckpt --by speed")
    assert check_command("tokrex search PATTERN --sae CKPT [--top N]") == "options"
    assert check_command("tokrex match '\"\\d+\"' --store /tmp/x --count") == "parsed, pattern compiled"
    assert check_command("tokrex sql 'SELECT 1' --store /tmp/x") == "parsed"
    with pytest.raises(PatternSyntaxError):
        check_command("tokrex match '(\"x\"' --store /tmp/x")


def test_shell_blocks_are_found():
    text = "```\n$ tokrex match 'x' \\\n    --store S\n```\n```python\ntokrex = 1\n```\n"
    assert shell_commands(text) == [(2, "tokrex match 'x' --store S")]


# -- Python snippets ----------------------------------------------------------------------------

def python_blocks(path: Path) -> list[tuple[int, str]]:
    return [(line, body) for lang, line, body in blocks(path.read_text(encoding="utf-8")) if lang in ("python", "py")]


def _api_references(tree: ast.AST) -> list[tuple[str, str]]:
    """``(module, name)`` for ``from tokrex... import name`` and ``tokrex.name`` uses."""
    refs = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tokrex":
            refs += [(node.module, a.name) for a in node.names if a.name != "*"]
        elif isinstance(node, ast.Import):
            refs += [(a.name, "") for a in node.names if a.name.split(".")[0] == "tokrex"]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "tokrex":
            refs.append(("tokrex", node.attr))
    return refs


SNIPPETS = [(f.relative_to(ROOT).as_posix(), line, body) for f in _doc_files() for line, body in python_blocks(f)]


@pytest.mark.parametrize("where,line,body", SNIPPETS, ids=[f"{w}:{n}" for w, n, _ in SNIPPETS])
def test_python_snippets_compile_against_the_api(where, line, body):
    tree = ast.parse(body, filename=f"{where}:{line}")
    for module, name in _api_references(tree):
        mod = importlib.import_module(module)
        assert not name or hasattr(mod, name), f"{where}:{line}: {module} has no {name}"


@pytest.fixture(scope="module")
def demo_like_home(tmp_path_factory, store_corpus, gpt2_sae_dir):  # noqa: F811
    """A TOKREX_HOME whose demo/store and demo/sae are the tiny fixtures."""
    home = tmp_path_factory.mktemp("home")
    shutil.copytree(store_corpus, home / "demo" / "store")
    shutil.copytree(gpt2_sae_dir, home / "demo" / "sae")
    return home


def test_readme_python_snippets_run(demo_like_home, monkeypatch, capsys):
    path = readme()
    if path is None:
        pytest.skip("no README yet")
    monkeypatch.setenv("TOKREX_HOME", str(demo_like_home))
    monkeypatch.delenv("TOKREX_STORE", raising=False)
    ran = 0
    for line, body in python_blocks(path):
        code = body.replace("~/.cache/tokrex", str(demo_like_home))
        exec(compile(code, f"{path.name}:{line}", "exec"), {"__name__": "__readme__"})
        ran += 1
    assert ran >= 1
    assert capsys.readouterr().out.strip()


def test_readme_file_map_is_current():
    """The repository map is generated from the tree (python docs/gen_filemap.py); stale means a module was added or renamed."""
    import subprocess
    import sys

    path = readme()
    if path is None:
        pytest.skip("no README yet")
    proc = subprocess.run([sys.executable, str(ROOT / "docs" / "gen_filemap.py"), str(path), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
