"""Submissions graded in Chinese: the scores English gives, the feedback in Chinese with no
English left but code, ``grader check`` in Chinese, and the feedback page in a real browser
with a glyph for every character.

The default run grades a sample in one ``grader run --lang zh_CN``: the bug fixtures of ex1
the English harness grades by default (``tests/test_fixture_submissions.py``) and three of
ex3's, a file that does not import, a notebook with cells that fail, and a hand-in with a
near-miss name and a helper module. Their ``expected.toml`` says what English earns; the slow
test grades in Chinese the rest of the English harness's sample, so that every check of the
suites fails once in Chinese, and the correct variants.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import chinese_text
import fixture_expectations as expectations
import pytest
import test_fixture_submissions as harness
from conftest import (
    CHROMIUM,
    REPO,
    chromium_command,
    describe,
    fixture_submission,
    full_marks,
    grader,
)
from PIL import Image

from grader.results import feedback_page
from grader.results.model import GradedTest, SubmissionResult

EXERCISES = ("ex1", "ex3")
EX3_BUGS = ("bug_channel_stats_0_255", "bug_no_random_flip", "bug_train_loader_not_shuffled")
"""Of ex3's: a statistic, a transform, a loader (the slowest exercise to grade, sampled)."""
SAMPLE = harness.sampled()
"""The bug fixtures the English harness grades by default."""
BUGS = [
    b
    for b in harness.BUGS
    if (b.exercise == "ex1" and b.fixture in SAMPLE) or b.fixture in EX3_BUGS
]
EXTRAS = ("broken_import_error", "correct_notebooks_with_tutorial_cells")
NEAR_MISS = "handin_near_miss_and_helper"
RUN_TIMEOUT_S = 900

PHRASES = {
    ("bug_sse_grads_wrong_sign", "test_sse_grads_match_finite_differences"): "符号错了",
    ("bug_sse_loss_mean", "test_sse_loss_is_sum_of_squares"): "误差平方的平均值;应为总和",
    ("bug_sgd_step_in_place", "test_sgd_step_returns_new_array"): "原地更新",
    ("bug_channel_stats_0_255", "test_channel_stats_of_array"): "0-255 范围",
    ("bug_train_loader_not_shuffled", "test_train_loader_reshuffles"): "shuffle=True",
    ("bug_no_random_flip", "test_train_transform_crops_and_flips"): "RandomHorizontalFlip()",
    ("broken_import_error", "test_channel_stats_of_array"): "无法导入 ex3_data.py",
    (NEAR_MISS, "test_predict_is_the_cubic"): "提交中没有 ex1_gradients.py",
}
"""A test's feedback in Chinese, by fixture: a phrase it must hold."""
PLACE = re.compile(r"[\w. ()-]+\.(?:py|ipynb|txt)\b(?:, cell \d+)?(?:, line \d+)?(?:, in [\w<>]+)?")
"""A file, or a traceback's place in it (``ex3_data.py, line 4, in channel_stats``)."""
EXCEPTION = re.compile(r"\b[A-Z]\w*(?:Error|Exception|Exit)\b: [^\u4e00-\u9fff]*")
"""Where student code raised: Python's own words (``ModuleNotFoundError: No module named
'x'``), not the grader's, up to the next Chinese."""


def _near_miss(folder: Path) -> None:
    """ex3 as the reference has it, ex1 named ``ex1_gradient.py`` and a helper ``utils.py``."""
    folder.mkdir(parents=True)
    shutil.copy(REPO / "solutions" / "ex3_data.py", folder / "ex3_data.py")
    shutil.copy(REPO / "solutions" / "ex1_gradients.py", folder / "ex1_gradient.py")
    (folder / "utils.py").write_text("SCALE = 255\n")


def grade(folder: Path, language: str, exercises: str, out: Path | None = None):
    """``grader run FOLDER --no-gate --lang LANGUAGE`` as JSON: (results by name, seconds)."""
    command = [sys.executable, "-m", "grader.cli", "run", str(folder), "--no-gate"]
    command += ["--format", "json", "--exercises", exercises, "--lang", language, "--jobs", "2"]
    if out is not None:
        command += ["--out", str(out), "--no-report"]
    started = time.monotonic()
    done = subprocess.run(
        command,
        cwd=folder.parent,
        env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return {r["submission"]: r for r in results}, time.monotonic() - started


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> tuple[dict[str, dict], Path]:
    """The sample graded once in Chinese, its feedback pages in ``OUT/feedback``."""
    root = tmp_path_factory.mktemp("zh")
    os.chmod(root, 0o755)
    folder = root / "class"
    for name in [b.fixture for b in BUGS] + list(EXTRAS):
        fixture_submission(name, folder / name)
    _near_miss(folder / NEAR_MISS)
    results, _seconds = grade(folder, "zh_CN", ",".join(EXERCISES), root / "out")
    return results, root / "out"


def test_the_sample_is_one_of_each_kind():
    """Does the sample hold bugs of both exercises, and every bug a phrase is asked of?"""
    names = {b.fixture for b in BUGS}
    assert {b.exercise for b in BUGS} == set(EXERCISES) and len(BUGS) >= 9
    assert {fixture for fixture, _test in PHRASES} <= names | set(EXTRAS) | {NEAR_MISS}


def earns_what_english_earns(result: dict, bug: expectations.Bug) -> bool:
    """Is ``result`` graded in Chinese, failing exactly the tests ``bug``'s expected.toml
    names (what English gives), with full marks in every other exercise?"""
    tests = harness.pointed_tests(result, bug.exercise)
    failing = {name for name, test in tests.items() if test["status"] != "passed"}
    others = [e for key, e in result["exercises"].items() if key != bug.exercise]
    return (
        result["language"] == "zh_CN"
        and failing == set(bug.fails)
        and all(full_marks(exercise) for exercise in others)
    )


def test_chinese_gives_the_scores_english_gives(graded):
    """Does each bug fail exactly the tests its expected.toml names (what English gives), in
    Chinese, and nothing else lose points; the notebook keep full marks; the file that does not
    import lose ex3 only; the missing ex1 lose ex1 only?"""
    results, _out = graded
    for bug in BUGS:
        assert earns_what_english_earns(results[bug.fixture], bug), describe(results[bug.fixture])
    notebooks = results["correct_notebooks_with_tutorial_cells"]["exercises"]
    assert all(full_marks(exercise) for exercise in notebooks.values())
    broken = results["broken_import_error"]["exercises"]
    assert broken["ex3"]["score"] == 0 and full_marks(broken["ex1"])
    near_miss = results[NEAR_MISS]["exercises"]
    assert near_miss["ex1"]["score"] == 0 and full_marks(near_miss["ex3"])


def test_the_feedback_says_the_mistake_in_chinese(graded):
    """Does the feedback of each asked test hold its Chinese phrase, and the warnings say in
    Chinese what was skipped and staged?"""
    results, _out = graded
    for (fixture, name), phrase in PHRASES.items():
        test = next(t for t in results[fixture]["tests"] if t["name"] == name)
        assert phrase in test["feedback"], (fixture, name, test["feedback"])
    notebook = " ".join(results["correct_notebooks_with_tutorial_cells"]["warnings"])
    assert "ex3_data.ipynb:单元格 5 被跳过了" in notebook, notebook
    near_miss = results[NEAR_MISS]
    ex1 = next(t for t in near_miss["tests"] if t["exercise"] == "ex1")
    assert "'ex1_gradient.py'" in ex1["feedback"] and "重命名为 ex1_gradients.py" in ex1["feedback"]
    assert "已带上的辅助模块:utils.py。" in " ".join(near_miss["warnings"])


def english_left(text: str) -> list[str]:
    """The English of ``text`` that is none of: code, the glossary's kept terms, what student
    code raised (Python's words), a file or a traceback's place."""
    text = EXCEPTION.sub(" ", text)
    text = PLACE.sub(" ", text)
    return chinese_text.english_left(text)


def english_in(result: dict) -> list[tuple[list[str], str]]:
    """(its English, the text's start) for each feedback, exercise message and warning of
    ``result`` that holds English by :func:`english_left`."""
    texts = [t["feedback"] for t in result["tests"]] + list(result["warnings"])
    texts += [e["message"] for e in result["exercises"].values()]
    return [(found, text[:300]) for text in texts if (found := english_left(text))]


def test_no_english_is_left_in_what_students_read(graded):
    """Is every feedback, exercise message and warning free of English but code, numbers,
    names and what the student's own code raised, while the same check sees an English one?"""
    results, _out = graded
    left = {name: found for name, result in results.items() if (found := english_in(result))}
    assert not left, left
    english = "sse_grads: grad for b is 1.5, finite differences give -1.5: the sign is wrong"
    assert {"the", "sign", "wrong"} <= set(english_left(english))
    assert english_left("ex3_data.py 无法导入:ModuleNotFoundError: No module named 'x'") == []


def test_the_feedback_page_is_in_chinese(graded):
    """Is a page of a result graded in Chinese marked zh-CN, with Chinese headings and the
    Chinese feedback, and no English heading left?"""
    _results, out = graded
    page = (out / "feedback" / "bug_sse_grads_wrong_sign.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in page and "未通过的测试及原因" in page and "符号错了" in page
    assert "Noto Sans CJK SC" in page and "What did not pass" not in page


def test_grader_check_speaks_chinese(tmp_path):
    """Does grader check --lang zh_CN say in Chinese what is missing and that it fails?"""
    shutil.copy(REPO / "solutions" / "ex1_gradients.py", tmp_path / "ex1_gradients.py")
    done = grader("check", "--lang", "zh_CN", tmp_path, cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "没有提交(相应的测试不运行):ex2_autograd.py" in done.stdout
    assert "提交中没有 ex3_data.py,所以 ex3 得 0 分" in done.stdout
    assert "grader check 未通过:" in done.stdout


# -- the page in a browser: every character drawn by a font that has it --------------------

FC_LIST = shutil.which("fc-list")


def cjk_fonts() -> list[str]:
    if FC_LIST is None:
        return []
    found = subprocess.run([FC_LIST, ":lang=zh", "family"], capture_output=True, text=True)
    return [line for line in found.stdout.splitlines() if line.strip()]


needs_browser_and_font = pytest.mark.skipif(
    CHROMIUM is None or not cjk_fonts(),
    reason="Chromium or a Chinese font is not installed (Debian: apt-get install chromium "
    "fonts-noto-cjk): the Chinese feedback page is not opened in a browser",
)


class Browser:
    """Headless Chromium driven over its DevTools pipe (``--remote-debugging-pipe``: commands
    on descriptor 3, answers on 4, each a JSON text ending in a NUL byte), no network."""

    def __init__(self, scratch: Path):
        commands, self._theirs_in = os.pipe()
        self._theirs_out, answers = os.pipe()

        def descriptors():
            os.dup2(commands, 3)
            os.dup2(answers, 4)

        self.process = subprocess.Popen(
            [*chromium_command(scratch / "profile"), "--remote-debugging-pipe", "about:blank"],
            pass_fds=(3, 4),
            preexec_fn=descriptors,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(commands)
        os.close(answers)
        self.count, self.buffer, self.session = 0, b"", None

    def send(self, method: str, **params):
        self.count += 1
        message = {"id": self.count, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        os.write(self._theirs_in, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self.buffer:
                chunk = os.read(self._theirs_out, 1 << 20)
                assert chunk, "Chromium closed its DevTools pipe"
                self.buffer += chunk
            line, self.buffer = self.buffer.split(b"\0", 1)
            answer = json.loads(line)
            if answer.get("id") == self.count:
                assert "error" not in answer, answer["error"]
                return answer["result"]

    def open(self, page: Path) -> None:
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        for domain in ("Page", "DOM", "CSS"):
            self.send(f"{domain}.enable")
        self.send("Page.navigate", url=page.resolve().as_uri())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            state = self.send("Runtime.evaluate", expression="document.readyState")
            if state["result"]["value"] == "complete":
                return
            time.sleep(0.05)
        raise AssertionError(f"{page} did not load")

    def fonts_of_texts(self) -> list[tuple[str, set[str]]]:
        """Each element's own text and the platform fonts Chromium drew it with (an element
        it does not draw, an SVG ``<title>``, is left out)."""
        root = self.send("DOM.getDocument", depth=-1)["root"]["nodeId"]
        selector = "body *"
        nodes = self.send("DOM.querySelectorAll", nodeId=root, selector=selector)["nodeIds"]
        script = (
            f"[...document.querySelectorAll({selector!r})].map(e => [...e.childNodes]"
            ".filter(n => n.nodeType === 3).map(n => n.textContent).join(''))"
        )
        texts = self.send("Runtime.evaluate", expression=script, returnByValue=True)
        found = []
        for node, text in zip(nodes, texts["result"]["value"], strict=True):
            if text.strip():
                fonts = self.send("CSS.getPlatformFontsForNode", nodeId=node)["fonts"]
                if fonts:
                    found.append((text, {font["familyName"] for font in fonts}))
        return found

    def screenshot(self) -> bytes:
        return base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"])

    def close(self) -> None:
        try:
            self.send("Browser.close")
            self.process.wait(timeout=20)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            os.close(self._theirs_in)
            os.close(self._theirs_out)


def charset(family: str) -> set[int]:
    """The code points fontconfig says ``family`` (its regular face) has glyphs for."""
    listed = subprocess.run(
        [FC_LIST, "--format", "%{charset}\n", f":family={family}"],
        capture_output=True,
        text=True,
    ).stdout
    points: set[int] = set()
    for span in listed.split():
        first, _dash, last = span.partition("-")
        points.update(range(int(first, 16), int(last or first, 16) + 1))
    return points


def missing_glyphs(drawn: list[tuple[str, set[str]]]) -> list[tuple[str, str]]:
    """(character, its text) for each character beyond ASCII that none of the fonts Chromium
    drew its text with has a glyph for: what shows as an empty box."""
    covered: dict[str, set[int]] = {}
    missing = []
    for text, families in drawn:
        for family in families - set(covered):
            covered[family] = charset(family)
        for char in set(text) - set(" \n\t"):
            if ord(char) > 0x7F and not any(ord(char) in covered[f] for f in families):
                missing.append((char, text[:60]))
    return missing


def gated(result: dict) -> SubmissionResult:
    """``result`` with a gate test that ran, so the page draws its charts too."""
    graded_result = SubmissionResult.from_dict(result)
    metrics = {
        "accuracy": 0.42,
        "threshold": 0.56,
        "train_s": 120.0,
        "time_ratio": 1.3,
        "time_factor": 2.5,
        "time_basis": "cpu",
        "per_class": [0.5, 0.6, 0.3, 0.2, 0.4, 0.3, 0.6, 0.5, 0.5, 0.3],
        "confusion": [[10 if i == j else 1 for j in range(10)] for i in range(10)],
    }
    gate = GradedTest("test_accuracy_gate", "ex5", 0, 8, "failed", "测试准确率 42.0%", 1.0, metrics)
    graded_result.tests.append(gate)
    return graded_result


@needs_browser_and_font
def test_every_character_of_the_chinese_page_has_a_glyph(graded, tmp_path):
    """Opened in headless Chromium, is every character of a Chinese feedback page (its
    feedback, headings and the gate's charts) drawn with a font that fontconfig says has its
    glyph, while a character no installed font has is seen missing?

    What it proves: for each text, the fonts Chromium reports it used (DevTools'
    ``CSS.getPlatformFontsForNode``) cover each of its characters; a character that no font
    covers is drawn as a box by whichever font was used, and shows here as missing."""
    results, out = graded
    page = tmp_path / "gated.html"
    result = gated(results["bug_channel_stats_0_255"])
    page.write_text(feedback_page.render(result), encoding="utf-8")
    control = tmp_path / "control.html"
    control.write_text('<!DOCTYPE html><html lang="zh-CN"><p>梯度 \U00017000</p></html>')
    browser = Browser(tmp_path)
    try:
        browser.open(page)
        drawn = browser.fonts_of_texts()
        png = browser.screenshot()
        browser.open(control)
        control_drawn = browser.fonts_of_texts()
    finally:
        browser.close()
    (tmp_path / "page.png").write_bytes(png)
    image = Image.open(io.BytesIO(png)).convert("L")
    assert image.size[0] == 1280
    assert sum(count for count, shade in image.getcolors(256) if shade < 100) > 5000
    chinese = "".join(text for text, _fonts in drawn if chinese_text.CJK.search(text))
    assert "准确率关卡" in chinese and "预测类别" in chinese and "0-255 范围" in chinese
    assert missing_glyphs(drawn) == []
    assert [char for char, _text in missing_glyphs(control_drawn)] == ["\U00017000"]
    assert any(set(cjk_fonts()) & fonts for _text, fonts in drawn)


# -- every check's failure in Chinese (slow) ---------------------------------------------------

SLOW_BUGS = [b for b in harness.BUGS if b.fixture in SAMPLE and b not in BUGS]
"""The rest of the English harness's sample: with :data:`BUGS`, a bug that fails each pointed
hidden test, so every failing check of the suites speaks Chinese here at least once."""
SLOW_TIMEOUT_S = 1200


@pytest.mark.slow
@pytest.mark.timeout(SLOW_TIMEOUT_S)
def test_every_check_fails_in_chinese_as_in_english(tmp_path):
    """Do the bugs that fail the pointed tests the default run does not reach (ex2, ex4, ex5,
    the rest of ex3's) fail exactly what their expected.toml says, as in English, with no
    English left in what students read; and does every correct variant keep full marks?

    Sampled, not the whole corpus in both languages: the score of a test does not depend on
    the language (only its words do), the English harness grades every fixture against its
    expected.toml, and this sample, with the default run's, makes every check fail once in
    Chinese."""
    failed_once = {(b.exercise, name) for b in BUGS + SLOW_BUGS for name in b.fails}
    pointed = {(ex, name) for ex, names in harness.suite_points().items() for name in names}
    assert failed_once == pointed
    os.chmod(tmp_path, 0o755)
    folder = tmp_path / "class"
    correct = sorted(harness.CORRECT)
    for name in [b.fixture for b in SLOW_BUGS] + correct:
        fixture_submission(name, folder / name)
    results, _seconds = grade(folder, "zh_CN", "ex1,ex2,ex3,ex4,ex5")
    wrong = [b.fixture for b in SLOW_BUGS if not earns_what_english_earns(results[b.fixture], b)]
    wrong += [n for n in correct if not all(map(full_marks, results[n]["exercises"].values()))]
    assert not wrong, {name: describe(results[name]) for name in wrong}
    left = {name: found for name, result in results.items() if (found := english_in(result))}
    assert not left, left
