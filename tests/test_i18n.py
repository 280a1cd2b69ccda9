"""The message catalogs: every message a student reads is in them, translated, with its
placeholders and its code kept; the compiled catalog is the one the translations make; the
language is chosen once and followed (the course, the command line, a student's locale)."""

from __future__ import annotations

import ast
import gettext
import io
import re
from pathlib import Path

import chinese_text
import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from grader import i18n
from grader.course import config as course_config
from grader.errors import CourseConfigError
from grader.grading.plan import Plan
from grader.i18n import _, n_
from grader.submissions.check import student_language

REPO = Path(__file__).resolve().parent.parent
PO = i18n.LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "grader.po"
MO = PO.with_suffix(".mo")


def catalog():
    with PO.open("rb") as handle:
        return read_po(handle)


def pairs(message) -> list[tuple[str, str]]:
    """(English, translation) of a message; a plural's every form against the plural."""
    if isinstance(message.id, tuple):
        return [(message.id[1], form) for form in message.string]
    return [(message.id, message.string)]


NUMERALS = dict(zip("12345678910", "一二三四五六七八九十", strict=False))
"""A section of the tutorial by its own heading's numeral (part 4: 四、数据读取机制)."""


def code_of(block: str) -> list[str]:
    """A fenced code block's lines without their comments (which are translated)."""
    return [line.split("#")[0].rstrip() for line in block.splitlines()]


def problems(english: str, translated: str) -> list[str]:
    """What is wrong with ``translated`` as the Chinese of ``english`` (nothing: ``[]``)."""
    found = []
    if not translated:
        return ["not translated"]
    if chinese_text.placeholders(translated) != chinese_text.placeholders(english):
        found.append(f"placeholders {chinese_text.placeholders(translated)}")
    if english.startswith("```"):
        if code_of(english) != code_of(translated):
            found.append("the code block's code changed")
        return found
    spans = set(re.findall(r"``[^`]+``|`[^`]+`", english))
    if missing := sorted(span for span in spans if span not in translated):
        found.append(f"code left out: {missing}")
    numbers = set(re.findall(r"(?<![\w.{:])\d+(?:[.,]\d+)*(?![\w}])", english))
    numbers = {n for n in numbers if n not in translated and NUMERALS.get(n, n) not in translated}
    if numbers:
        found.append(f"numbers left out: {sorted(numbers)}")
    english_words = chinese_text.english_left(english, chinese_text.code_words(english))
    if english_words and not chinese_text.CJK.search(translated):
        found.append("no Chinese")
    if left := chinese_text.english_left(translated, chinese_text.code_words(english)):
        found.append(f"English left: {left}")
    return found


def test_every_message_is_translated_with_its_placeholders_code_and_numbers():
    """Is every message of the Chinese catalog translated, not fuzzy, with the same
    placeholders, every code span and number of the English, and no English of its own?"""
    wrong = {}
    for message in catalog():
        if not message.id:
            continue
        if message.fuzzy:
            wrong[message.id] = ["fuzzy"]
        for english, translated in pairs(message):
            if found := problems(english, translated):
                wrong[english] = found
    assert not wrong, wrong


def test_a_wrong_translation_is_caught():
    """Does the check see a lost placeholder, a changed format, lost code, a lost number,
    an untranslated message and English left over?"""
    english = "the mean is {got:.4g} at `x`, 3 of {count}: divide by 255"
    assert problems(english, "均值为 {got:.4g},`x`,{count} 个中 3 个:除以 255") == []
    assert problems(english, "均值为 {got},`x`,{count} 个中 3 个:除以 255")
    assert problems(english, "均值为 {got:.4g},x,{count} 个中 3 个:除以 255")
    assert problems(english, "均值为 {got:.4g},`x`,{count} 个中 3 个:除以")
    assert problems(english, english)
    assert problems(english, "均值为 {got:.4g},`x`,{count} 个中 3 个:divide 255")
    assert problems(english, "") == ["not translated"]


def test_every_translation_formats():
    """Does every translation fill its placeholders, format specs included, as ``_`` does?"""
    with i18n.using("zh_CN"):
        for message in catalog():
            for english, translated in pairs(message) if message.id else []:
                values = {}
                for kind, *field in chinese_text.placeholders(english):
                    if kind == "brace":
                        name, spec = field[0], field[1]
                        values[name.split("(")[0]] = 1.5 if spec else "x"
                if values and "{len(" not in english:
                    translated.format(**values)


def extracted() -> set:
    """The messages ``pybabel extract -F babel.cfg`` finds now (``make messages``)."""
    with (REPO / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    found = extract_from_dir(REPO, method_map, options_map, keywords=DEFAULT_KEYWORDS)
    return {message for _file, _line, message, _comments, _context in found}


def test_the_catalog_holds_every_marked_message_and_no_other():
    """Is every message marked in the code, the feedback page, the exercises and the student
    guide in the catalog, and is every message of the catalog still used? (``make messages``
    brings it up to date.)"""
    held = {message.id for message in catalog() if message.id}
    found = extracted()
    assert not found - held, f"not in the catalog (make messages): {sorted(found - held)[:5]}"
    assert not held - found, f"no longer used (make messages): {sorted(held - found)[:5]}"
    assert len(held) > 400


def test_the_compiled_catalog_is_the_translations():
    """Does grader.mo hold exactly what grader.po says (compile it: make messages), and would
    a changed translation show?"""

    def compiled(po) -> dict:
        buffer = io.BytesIO()
        write_mo(buffer, po)
        buffer.seek(0)
        return gettext.GNUTranslations(buffer)._catalog  # noqa: SLF001 - the table itself

    with MO.open("rb") as handle:
        shipped = gettext.GNUTranslations(handle)._catalog  # noqa: SLF001
    po = catalog()
    assert compiled(po) == shipped
    message = next(m for m in po if m.id == "the check failed")
    message.string = "检查失败"
    assert compiled(po) != shipped


def shadowing(source: str) -> list[str]:
    """Functions of a module that imports ``_`` from grader.i18n and binds ``_`` itself (a
    loop's ``for _ in``, an unpacking ``_, x = ...``): there ``_("...")`` would call it."""
    tree = ast.parse(source)
    imports = any(
        isinstance(node, ast.ImportFrom)
        and node.module == "grader.i18n"
        and any(alias.name == "_" for alias in node.names)
        for node in tree.body
    )
    if not imports:
        return []
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        todo = list(function.body)
        while todo:
            node = todo.pop()
            if isinstance(node, ast.FunctionDef | ast.Lambda | ast.comprehension):
                continue
            if isinstance(node, ast.Name) and node.id == "_" and isinstance(node.ctx, ast.Store):
                found.append(function.name)
            if not isinstance(node, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
                todo.extend(ast.iter_child_nodes(node))
    return found


def test_no_function_binds_the_translator():
    """Does no module that translates with ``_`` bind ``_`` in a function (where
    ``_("...")`` would then call whatever was bound), while a sample that does is seen?"""
    sample = "from grader.i18n import _\ndef f(x):\n    _, y = x\n    return _('a')\n"
    assert shadowing(sample) == ["f"]
    assert shadowing("from grader.i18n import _\ndef f(x):\n    return [_ for _ in x]\n") == []
    found = {
        str(path.relative_to(REPO)): names
        for path in sorted((REPO / "grader").rglob("*.py"))
        if (names := shadowing(path.read_text(encoding="utf-8")))
    }
    assert not found, found


def test_messages_follow_the_language_in_use():
    """Is a message English outside any language, Chinese inside ``using("zh_CN")``, English
    again after it; a plural in its form; an unknown language refused?"""
    english = "grad for {name} is {a:.6g}, finite differences give {n:.6g}: the sign is wrong"
    assert _(english, name="b", a=2.0, n=-2.0).endswith("the sign is wrong")
    with i18n.using("zh_CN"):
        assert i18n.current() == "zh_CN"
        assert _(english, name="b", a=2.0, n=-2.0) == "b 的梯度是 2,有限差分给出的是 -2:符号错了"
        assert "个 .py 文件" in n_(
            "{count} more .py file past the first {most}",
            "{count} more .py files past the first {most}",
            3,
            count=3,
            most=20,
        )
    assert i18n.current() == "en"
    with pytest.raises(ValueError, match="unknown language"):
        with i18n.using("fr"):
            pass


@pytest.mark.parametrize(
    ("environ", "language"),
    [
        ({"LANG": "zh_CN.UTF-8"}, "zh_CN"),
        ({"LANG": "zh_TW.UTF-8"}, "zh_CN"),
        ({"LC_ALL": "en_GB.UTF-8", "LANG": "zh_CN.UTF-8"}, "en"),
        ({"LANGUAGE": "fr:zh_CN", "LANG": "en_US.UTF-8"}, "zh_CN"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LANG": "fr_FR.UTF-8"}, None),
        ({}, None),
    ],
)
def test_the_language_a_locale_asks_for(environ, language):
    """Which course language does a student's locale ask for (gettext's order of variables)?"""
    assert i18n.language_of_locale(environ) == language


def test_grader_check_follows_the_course_then_the_locale(tmp_path, monkeypatch):
    """Does grader check speak the course's language where the course chooses one, else the
    student's locale, else English?"""
    monkeypatch.chdir(tmp_path)
    assert student_language({"LANG": "zh_CN.UTF-8"}) == "zh_CN"
    assert student_language({"LANG": "de_DE.UTF-8"}) == "en"
    (tmp_path / "grader.toml").write_text('language = "en"\n')
    assert student_language({"LANG": "zh_CN.UTF-8"}) == "en"
    (tmp_path / "grader.toml").write_text('language = "zh_CN"\n')
    assert student_language({"LANG": "en_US.UTF-8"}) == "zh_CN"


def test_the_course_chooses_its_language(tmp_path):
    """Does a course configuration set the language (not set: none chosen), and is an unknown
    one an error that names the key and the file?"""
    assert course_config.defaults().language is None
    path = tmp_path / "grader.toml"
    path.write_text('language = "zh_CN"\n')
    assert course_config.load(path).language == "zh_CN"
    path.write_text('language = "zh"\n')
    with pytest.raises(CourseConfigError, match=r"grader.toml: language: expected one of en"):
        course_config.load(path)


def test_the_plan_carries_the_language_to_the_batch_children():
    """Does the plan's language survive the JSON the batch's children get?"""
    plan = Plan(exercises=("ex1",), language="zh_CN")
    assert Plan.from_json(plan.to_json()).language == "zh_CN"
    assert Plan(exercises=("ex1",)).language == "en"


def test_a_rerun_in_another_language_grades_again(tmp_path):
    """Is a stored result reused by a rerun in its own language (or where none is asked), and
    graded again by one in another language?"""
    from grader.batch.store import read_result, write_result
    from grader.results.model import SubmissionResult

    result = SubmissionResult.build("alice", [], {"ex1": 20}, device="cpu", isolation="bwrap",
                                    grader_version="0", duration_s=1.0)  # fmt: skip
    path = write_result(result, tmp_path)
    assert read_result(path, ["ex1"], "en") is not None
    assert read_result(path, ["ex1"]) is not None
    assert read_result(path, ["ex1"], "zh_CN") is None
