"""The README and ``docs/``: the README fits on a few screens, every relative link resolves
(file and heading), and every ``hftjax`` command shown parses with the CLI's own parser
(``python -m`` commands name modules that exist)."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest

from hftjax.cli import build_parser, take_overrides

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"```(\w*)\n(.*?)```", re.S)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    seen, out = {}, set()
    for heading in re.findall(r"^#+ (.+)$", text, re.M):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def test_readme_fits_on_a_few_screens():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_link_resolves(page):
    for target in LINK.findall(FENCE.sub("", page.read_text())):
        if target.startswith(("http://", "https://")):
            assert target.startswith("https://"), (page.name, target)
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        assert resolved.exists(), f"{page.name}: {target} does not exist"
        assert ROOT in resolved.parents or resolved == ROOT, f"{page.name}: {target} leaves the repository"
        if anchor:
            assert anchor in anchors(resolved), f"{page.name}: no heading #{anchor} in {resolved.name}"


def commands(page: Path) -> list[tuple[str, bool]]:
    """(command, from a code block) for every hftjax or python -m command on the page."""
    text = page.read_text()
    out = []
    for kind, body in FENCE.findall(text):
        if kind not in ("bash", "sh", ""):
            continue
        for line in body.replace("\\\n", " ").splitlines():
            for part in re.split(r"\s&&\s", line.split(" # ")[0].strip()):
                out.append((part.strip(), True))
    out += [(span, False) for span in re.findall(r"`((?:hftjax|python3? -m) [^`]+)`", FENCE.sub("", text))]
    return [(c, block) for c, block in out if re.match(r"^(\.venv/bin/)?(hftjax|python3? -m|\.venv/bin/python -m) ", c)]


def names_known_options(parser, words: list[str]) -> bool:
    """A reference to a command (``hftjax run --data``, a usage synopsis): the command exists and
    so does every option it names."""
    import argparse

    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    words = [w for w in words if w not in ("-v", "-q")]
    if words[:1] == ["COMMAND"]:  # any command: only --help may follow
        return words[1:] == ["--help"]
    if not words or words[0] not in commands:
        return False
    if words[0] == "bench":  # its options belong to the benchmark named (or NAME, a placeholder)
        name = next(a for a in commands["bench"]._actions if a.dest == "name")
        return len(words) > 1 and (words[1] in name.choices or words[1] == "NAME")
    options = {o for a in commands[words[0]]._actions for o in a.option_strings}
    named = [w.strip("[]").split("=")[0] for w in words[1:] if w.strip("[").startswith("--")]
    return all(o in options for o in named)


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_command_parses(page):
    """A command in a code block parses in full (a usage synopsis, with [options] or ..., names
    only known options); one in the prose names a known command and options."""
    parser = build_parser()
    checked = 0
    for command, from_block in commands(page):
        words = shlex.split(command)
        if words[0].endswith("hftjax"):
            synopsis = not from_block or "[" in command or "..." in command
            if synopsis:
                assert names_known_options(parser, words[1:]) or words[1:] in (["--version"], ["--help"]), \
                    f"{page.name}: {command!r} names an unknown command or option"
            else:
                argv, _ = take_overrides(parser, words[1:])
                try:
                    parser.parse_args(argv)
                except SystemExit as e:
                    if e.code != 0:  # 0: --help, --version
                        pytest.fail(f"{page.name}: {command!r} does not parse")
        else:
            module = words[words.index("-m") + 1]
            if module in ("venv", "pip", "pytest"):
                continue
            assert importlib.util.find_spec(module) is not None, f"{page.name}: no module {module} ({command!r})"
        checked += 1
    if page.name in ("README.md", "data.md", "run-directory.md"):
        assert checked >= 3, f"{page.name}: the commands were not found"


def cited_tests(page: Path, default: str) -> list[tuple[str, str]]:
    """(test file, test name) of every test a guarantee table cites in its last column:
    ``file.py::name``, ``::name`` (in the file named last before it in the row) or a bare name
    (in ``default``); a bare ``file.py`` cites the whole file (name "")."""
    cited = []
    for row in re.findall(r"^\|.*\|(.*)\|\s*$", page.read_text(), re.M):
        current = default
        for token in re.findall(r"`([^`]+)`", row):
            if token.endswith(".py"):
                current, name = token, ""
            elif "::" in token:
                file, _, name = token.rpartition("::")
                current = file or current
            else:
                file, name = default, token
            cited.append((current if "::" in token or not name else file, name.split("[")[0]))
    return cited


def test_every_test_a_guarantee_cites_exists():
    """docs/reliability.md names the test that holds each guarantee; each one is defined."""
    cited = cited_tests(ROOT / "docs" / "reliability.md", "test_integrity.py")
    assert len(cited) > 20
    for file, name in cited:
        path = ROOT / "tests" / file
        assert path.exists(), file
        assert not name or re.search(rf"^def {re.escape(name)}\(", path.read_text(), re.M), f"{file}::{name}"
