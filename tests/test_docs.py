"""The README and the pages of ``docs/`` in step with the kit.

Every ``grader`` command they show, in a code block or in an inline code span that starts
with ``grader ``, is parsed by the command line's own parser; every relative link points at a
file that exists, and every ``#anchor`` at a heading of its page.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from markdown_it import MarkdownIt  # rich's Markdown parser, installed with it

from grader.cli import build_parser

REPO = Path(__file__).resolve().parent.parent

# A placeholder a page shows for what the reader fills in: DIR, KEY=VALUE, <student>.
_PLACEHOLDER = re.compile(r"[A-Z][A-Z0-9_]*(=[A-Z][A-Z0-9_]*)?|<[^<>]+>")
_GRADER = re.compile(r"(?:^|&&|\|\||;)\s*(?:\$\s+)?(?:\S*/)?grader(?:\s|$)")
_SEPARATORS = {"&&", "||", ";", "|"}
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def pages(root: Path = REPO) -> list[Path]:
    """The README and every page of ``docs/``."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


@dataclass(frozen=True)
class Shown:
    """A ``grader`` command as a page shows it: where, its text, and whether it is inline."""

    path: Path
    line: int
    text: str
    inline: bool


def _markdown(path: Path) -> tuple[list[str], list]:
    text = path.read_text(encoding="utf-8")
    return text.splitlines(), MarkdownIt("commonmark").enable("table").parse(text)


def _find(lines: list[str], start: int, pos: int, pattern: str) -> tuple[int, int]:
    """The 1-based line of ``pattern`` in the block that starts at ``start``, searched from
    ``pos`` on, and the position after it (the block's first line when it is not found)."""
    source = "\n".join(lines[start:])
    found = re.compile(pattern).search(source, pos)
    if found is None:
        return start + 1, pos
    return start + 1 + source.count("\n", 0, found.start()), found.end()


def _logical_lines(content: str, first: int) -> list[tuple[int, str]]:
    """A code block's lines with continuations (a trailing ``\\``) joined, each with the
    line number it starts on."""
    joined: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for number, line in enumerate(content.splitlines(), first):
        if pending is not None:
            number, line = pending[0], pending[1] + " " + line.strip()
        stripped = line.rstrip()
        if stripped.endswith("\\"):
            pending = (number, stripped[:-1])
            continue
        pending = None
        joined.append((number, line))
    if pending is not None:
        joined.append(pending)
    return joined


def commands(path: Path) -> list[Shown]:
    """Every ``grader`` command line ``path`` shows, in the order it shows them."""
    lines, tokens = _markdown(path)
    shown = []
    for token in tokens:
        if token.type in ("fence", "code_block"):
            first = token.map[0] + 1 + (token.type == "fence")
            for number, line in _logical_lines(token.content, first):
                if _GRADER.search(line):
                    shown.append(Shown(path, number, line.strip(), inline=False))
        elif token.type == "inline":
            pos = 0
            for child in token.children or []:
                if child.type != "code_inline":
                    continue
                words = child.content.split()
                pattern = r"\s+".join(map(re.escape, words))
                number, pos = _find(lines, token.map[0], pos, pattern)
                if words and re.fullmatch(r"(?:\S*/)?grader", words[0]) and len(words) > 1:
                    shown.append(Shown(path, number, child.content, inline=True))
    return shown


def _for_pages(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``parser`` taking a placeholder wherever an option or argument wants a value (a page
    may write ``--times KIND`` or ``--jobs N``), and only whole option names: a page that
    shows ``--job`` for ``--jobs`` is out of step. Subcommands are left strict."""
    parser.allow_abbrev = False

    class OrPlaceholder(tuple):
        def __contains__(self, value) -> bool:
            return bool(_PLACEHOLDER.fullmatch(str(value))) or tuple.__contains__(self, value)

    def placeholder_or(convert):
        def value(text: str):
            return text if _PLACEHOLDER.fullmatch(text) else convert(text)

        value.__name__ = getattr(convert, "__name__", "value")
        return value

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _for_pages(sub)
            continue
        if action.choices is not None:
            action.choices = OrPlaceholder(action.choices)
        if action.type is not None:
            action.type = placeholder_or(action.type)
    return parser


def _argvs(text: str) -> list[list[str]]:
    """The argument lists a shown command stands for: one per alternative it offers
    (``--format csv|junit``), with ``$`` prompts, comments, elisions (``...``) and brackets
    around optional placeholders (``[SOURCE]``) taken off."""
    text = re.sub(r"<[^<>]*>", lambda m: m.group(0).replace(" ", "_"), text)
    words = shlex.split(text, comments=True)
    for segment in _segments(words):
        if segment and re.fullmatch(r"(?:\S*/)?grader", segment[0]):
            args = []
            for word in segment[1:]:
                word = re.sub(r"^\[(.+)\]$", r"\1", word.removesuffix("...").removesuffix("…"))
                if word:
                    args.append(word.split("|") if "|" in word else [word])
            return [list(argv) for argv in itertools.product(*args)]
    return []


def _segments(words: list[str]) -> list[list[str]]:
    segments: list[list[str]] = [[]]
    for word in words:
        if word in _SEPARATORS:
            segments.append([])
        elif not (word == "$" and not segments[-1]):
            segments[-1].append(word)
    return segments


def _parse_error(parser: argparse.ArgumentParser, argv: list[str]) -> str | None:
    """What the parser says against ``argv``, or ``None`` when it parses."""
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(argv)
    except SystemExit as exc:
        if exc.code:
            return said.getvalue().strip().splitlines()[-1]
    return None


def out_of_step(paths: list[Path], root: Path = REPO) -> list[str]:
    """``file:line: command: what the parser says`` for each shown command it refuses."""
    parser = _for_pages(build_parser())
    verbs = _verbs()
    problems = []
    for shown in itertools.chain.from_iterable(commands(path) for path in paths):
        where = f"{shown.path.relative_to(root)}:{shown.line}: {shown.text}"
        try:
            argvs = _argvs(shown.text)
        except ValueError as exc:
            problems.append(f"{where}: cannot be split: {exc}")
            continue
        for argv in argvs:
            if shown.inline and len(argv) == 1:
                # `grader check` in a sentence names the verb; its arguments may come later
                error = None if argv[0] in verbs else f"no such command: {argv[0]}"
            else:
                error = _parse_error(parser, argv)
            if error:
                problems.append(f"{where}: {error}")
    return problems


def _verbs() -> set[str]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(sub.choices)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading's text."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of ``path``, repeated headings numbered as GitHub numbers them."""
    _, tokens = _markdown(path)
    found: set[str] = set()
    for opening, inline in itertools.pairwise(tokens):
        if opening.type == "heading_open":
            text = "".join(
                c.content for c in inline.children or [] if c.type in ("text", "code_inline")
            )
            base = name = slug(text)
            for n in itertools.count(1):
                if name not in found:
                    break
                name = f"{base}-{n}"
            found.add(name)
    return found


def links(path: Path) -> list[tuple[int, str]]:
    """Each link target of ``path`` with its line."""
    lines, tokens = _markdown(path)
    found = []
    for token in tokens:
        if token.type != "inline":
            continue
        pos = 0
        for child in token.children or []:
            target = child.attrGet("href") if child.type == "link_open" else None
            if child.type == "image":
                target = child.attrGet("src")
            if target:
                number, pos = _find(lines, token.map[0], pos, re.escape(f"({target}"))
                found.append((number, str(target)))
    return found


def broken_links(paths: list[Path], root: Path = REPO) -> list[str]:
    """``file:line: target: why`` for each relative link that leads nowhere."""
    problems = []
    for path in paths:
        for number, target in links(path):
            if _SCHEME.match(target):
                continue
            file, _, anchor = target.partition("#")
            destination = (path.parent / unquote(file)).resolve() if file else path
            why = None
            if not destination.exists():
                why = "no such file"
            elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
                why = f"no heading #{anchor} in {destination.name}"
            if why:
                problems.append(f"{path.relative_to(root)}:{number}: {target}: {why}")
    return problems


def test_every_command_the_docs_show_parses():
    """Does the command line take every ``grader`` command the README and docs/ show?"""
    assert out_of_step(pages()) == []


def test_the_docs_show_every_command():
    """Is every verb of the command line shown somewhere, so that the check above sees it?"""
    shown = {
        argv[0]
        for path in pages()
        for command in commands(path)
        for argv in _argvs(command.text)
        if argv
    }
    assert _verbs() - shown == set()


BAD = {
    "an option the parser lacks": (
        "Grade:\n\n```sh\ngrader run DIR --out results/ \\\n    --made-up-option 3   # new\n```\n",
        4,
        "unrecognized arguments: --made-up-option",
    ),
    "a verb in a sentence that does not exist": (
        "First\nsentence, then `grader grade DIR`.\n",
        2,
        "invalid choice: 'grade'",
    ),
    "one bad alternative": (
        "```sh\ngrader export gradescope|gitlab OUT\n```\n",
        2,
        "invalid choice: 'gitlab'",
    ),
    "a required option left out, after a cd": (
        "    cd kit && .venv/bin/grader similarity DIR\n",
        1,
        "the following arguments are required: --out",
    ),
    "an option cut short": (
        "```sh\n.venv/bin/grader run DIR --out results/ --job 2\n```\n",
        2,
        "unrecognized arguments: --job 2",
    ),
    "a bad choice where no placeholder is": (
        "```console\n$ grader run DIR --format xml\n```\n",
        2,
        "invalid choice: 'xml'",
    ),
}


def test_a_command_out_of_step_is_reported_with_its_file_and_line(tmp_path):
    """Is a shown command the parser refuses reported with the file, the line and why?"""
    for name, (text, line, message) in BAD.items():
        (tmp_path / "doc.md").write_text(text)
        problems = out_of_step([tmp_path / "doc.md"], root=tmp_path)
        assert len(problems) == 1, (name, problems)
        assert problems[0].startswith(f"doc.md:{line}: "), (name, problems)
        assert message in problems[0], (name, problems)


def test_placeholders_comments_prompts_and_continuations_parse(tmp_path):
    """Are the ways a page writes a command (placeholders, ``[optional]``, ``a|b``, ``...``,
    comments, ``$`` prompts, continued lines) taken as the reader would take them?"""
    (tmp_path / "doc.md").write_text(
        "Run `grader run SUBMISSION...` or `grader check`; `grader` alone is the tool.\n\n"
        "```sh\n"
        "grader run DIR --jobs N --format FORMAT --out results/<student name>/  # a class\n"
        "grader data prepare [SOURCE]\n"
        "grader export gradescope|github|nbgrader OUT\n"
        "grader run ... --out DIR --slurm-set KEY=VALUE\n"
        "$ grader gradebook RESULTS --roster ROSTER --times KIND --from PATH \\\n"
        "      --moodle-key idnumber\n"
        "git clone <the course kit> kit && cd kit && .venv/bin/grader release\n"
        "```\n"
    )
    doc = tmp_path / "doc.md"
    assert [c.line for c in commands(doc)] == [1, 1, 4, 5, 6, 7, 8, 10]
    assert out_of_step([doc], root=tmp_path) == []


def test_every_relative_link_resolves():
    """Does every relative link of the README and docs/ lead to a file, and every anchor to
    a heading?"""
    assert broken_links(pages()) == []


def test_the_readme_links_every_docs_page():
    """Can a reader reach every page of docs/ from the README?"""
    readme = REPO / "README.md"
    linked = {(readme.parent / t.partition("#")[0]).resolve() for _, t in links(readme)}
    assert [p.name for p in pages()[1:] if p.resolve() not in linked] == []


def test_a_broken_link_or_anchor_is_reported(tmp_path):
    """Is a link to a missing file, or to a heading a page lacks, reported with its line?"""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("# Other\n\n## The `slurm` table\n\n## Other\n")
    (tmp_path / "README.md").write_text(
        "# Kit\n\n"
        "[fine](docs/other.md#the-slurm-table), [repeated](docs/other.md#other-1),\n"
        "[here](#kit), [web](https://example.org/x.md)\n\n"
        "| a | b |\n| --- | --- |\n| [gone](docs/gone.md) | [no heading](docs/other.md#nope) |\n"
    )
    assert broken_links(pages(tmp_path), root=tmp_path) == [
        "README.md:8: docs/gone.md: no such file",
        "README.md:8: docs/other.md#nope: no heading #nope in other.md",
    ]
