"""``grader report``: the class report's figures, asserted on a class whose figures were
planted (``tests/class_results.py``), and its page opened in a real headless Chromium."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import statistics
import subprocess
from pathlib import Path

import class_results as planted
import pytest
from conftest import CHROMIUM, chromium_command, grader

from grader import cli
from grader.errors import GraderError
from grader.results.report import figures, report

NAMES = planted.STUDENTS


def names(indices) -> list[str]:
    return [NAMES[i] for i in indices]


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The planted class written as ``grader run --out`` leaves it, with a similarity report
    beside it, and its class report."""
    out = planted.write(tmp_path_factory.mktemp("class") / "results", planted.build())
    (out / "similarity").mkdir()
    (out / "similarity" / "similarity.json").write_text(json.dumps(SIMILARITY))
    (out / "similarity" / "similarity.html").write_text("<!DOCTYPE html><title>pairs</title>")
    data = report(out)
    return out, data


SIMILARITY = {
    "schema": 1,
    "threshold": 0.6,
    "exercise_threshold": 0.8,
    "submissions": NAMES[:6],
    "pairs_compared": 15,
    "pairs": [
        {"a": "s001", "b": "s002", "b_is_reference": False, "score": 0.97, "exercises": ["ex1"]},
        {"a": "s003", "b": "s004", "b_is_reference": False, "score": 0.41, "exercises": ["ex2"]},
    ],
    "not_compared": [],
}


def test_written_files_are_the_figures(generated):
    """Does the report folder hold index.html, report.json (the figures returned) and
    tests.csv, and nothing else, and does no student's feedback page link anywhere?"""
    out, data = generated
    folder = out / "report"
    assert sorted(p.name for p in folder.iterdir()) == ["index.html", "report.json", "tests.csv"]
    assert json.loads((folder / "report.json").read_text()) == data
    assert data["students"] == planted.SIZE and data["max_score"] == 100
    feedback = [p.read_text() for p in (out / "feedback").glob("*.html")]
    assert len(feedback) == planted.SIZE and not [p for p in feedback if "href" in p]


def test_scores_are_the_planted_ones(generated):
    """Are the totals' figures those of the class (mean, median, quartiles as the statistics
    module computes them), and the zero scores, missing files, grader errors, timeouts and
    unreadable submissions the planted students?"""
    out, data = generated
    totals = [json.loads(p.read_text())["score"] for p in sorted(out.glob("*.json"))]
    total = data["scores"]["total"]
    q1, median, q3 = statistics.quantiles(totals, n=4, method="inclusive")
    assert total["mean"] == pytest.approx(statistics.mean(totals), abs=1e-4)
    assert (total["q1"], total["median"], total["q3"]) == pytest.approx((q1, median, q3))
    assert total["median"] == statistics.median(totals)
    assert total["zero"] == len(planted.EMPTY) and total["full"] == 0
    assert sum(total["histogram"]["counts"]) == planted.SIZE
    assert total["histogram"]["counts"][0] == len(planted.EMPTY)
    assert total["histogram"]["edges"] == [5.0 * k for k in range(21)]
    scores = data["scores"]
    assert scores["exercises"]["ex3"]["missing_file"] == names(planted.MISSING_EX3)
    assert scores["exercises"]["ex3"]["zero"] == len(planted.EMPTY) + len(planted.MISSING_EX3)
    assert scores["missing_files"] == names(planted.MISSING_EX3)
    assert scores["grader_errors"] == names(planted.ERRORS)
    assert scores["exercises"]["ex2"]["grader_errors"] == names(planted.ERRORS)
    assert scores["timeouts"] == names(planted.TIMEOUTS)
    assert scores["unreadable"] == names(planted.EMPTY)


def _test(data: dict, name: str) -> dict:
    (found,) = [t for t in data["tests"] if t["name"] == name]
    return found


def test_pass_rates_and_causes_are_the_planted_ones(generated):
    """Is each test's pass rate counted over the students it graded, the tests sorted lowest
    first, and a test's failures grouped by cause whatever the numbers in each message?"""
    _, data = generated
    graded = planted.SIZE - len(planted.EMPTY)
    rates = [t["pass_rate"] for t in data["tests"]]
    assert rates == sorted(rates)
    grads = _test(data, planted.SSE_GRADS)
    wrong = len(planted.SIGN) + len(planted.FACTOR_2)
    assert grads["graded"] == graded and grads["failed"] == wrong
    assert grads["pass_rate"] == round((graded - wrong) / graded, 4)
    sign, factor = grads["causes"][:2]
    assert (sign["count"], sign["students"]) == (len(planted.SIGN), names(planted.SIGN))
    assert "the sign is wrong" in sign["text"] and "#" in sign["pattern"]
    assert factor["students"] == names(planted.FACTOR_2) and len(grads["causes"]) == 2
    slow = _test(data, planted.SLOW)
    assert (slow["timeout"], slow["error"], slow["failed"]) == (20, 5, 5)
    assert slow["causes"][0] == {
        "count": 20,
        "text": slow["causes"][0]["text"],
        "pattern": "train_step: no answer within # s",
        "statuses": {"timeout": 20},
        "students": names(planted.TIMEOUTS),
    }
    layout = _test(data, "test_channel_stats_of_array")["causes"]
    missing = [c for c in layout if "is not in the submission" in c["text"]]
    assert sorted(c["count"] for c in missing) == [4, 6]  # with a near miss named, and without


def test_test_quality_flags_exactly_the_planted_tests(generated):
    """Are the flagged tests exactly those planted (nobody passes, everybody passes, the
    strongest fail it, mostly errors and timeouts), and is a mistake of weaker students a
    positive discrimination?"""
    _, data = generated
    flagged = {t["name"]: t["flags"] for t in data["tests"] if t["flags"]}
    assert flagged == {
        planted.NOBODY: ["nobody passes"],
        planted.EVERYBODY: ["everybody passes"],
        planted.STRONGEST_FAIL: ["stronger students fail it more often"],
        planted.SLOW: ["mostly grader errors or timeouts"],
    }
    assert _test(data, planted.STRONGEST_FAIL)["discrimination"] < -0.3
    assert _test(data, planted.SSE_GRADS)["discrimination"] > 0.2
    assert _test(data, planted.NOBODY)["discrimination"] is None


def test_discrimination_is_the_point_biserial_correlation():
    """Is it (M1 - M0) / s * sqrt(p q), and None where nothing varies?"""
    passed, rest = [True, True, True, False, False], [9.0, 7.0, 8.0, 2.0, 6.0]
    m1, m0 = statistics.mean(rest[:3]), statistics.mean(rest[3:])
    expected = (m1 - m0) / statistics.pstdev(rest) * math.sqrt(0.6 * 0.4)
    assert figures.correlation(passed, rest) == pytest.approx(expected, abs=1e-4)
    assert figures.correlation([True, False], [3.0, 5.0]) == -1.0
    assert figures.correlation([True, True], [3.0, 5.0]) is None
    assert figures.correlation([True, False], [4.0, 4.0]) is None


def test_a_cause_sets_numbers_and_quoted_names_aside():
    """Do two messages of one mistake give one cause, while names with digits in them
    (conv1, ex3_data.py, float32) and different wordings stay apart?"""
    one = figures.cause("grad for b is -1.5e-3, expected 0.25 (shape (1, 10)) in 'a.py'")
    two = figures.cause("grad for b is 7, expected -12.0 (shape (4, 10)) in 'b b.py'")
    assert one == two == "grad for b is #, expected # (shape (#, #)) in '…'"
    kept = "conv1 of ex3_data.py in float32 at 0x7f3a12"
    assert figures.cause(kept) == "conv1 of ex3_data.py in float32 at #"
    assert figures.cause("grad for a is 1") != figures.cause("grad for b is 1")
    assert figures.warning_kind("cell 3 skipped (NameError: x)") == "cell # skipped (…)"


def test_the_gate_across_the_class(generated):
    """Are the students trained, passed, below the threshold and stopped by the limit the
    planted ones, the classes weakest first, and the confusion matrices summed?"""
    _, data = generated
    gate = data["gate"]
    trained = planted.SIZE - len(planted.EMPTY) - len(planted.NO_GATE)
    assert gate["students"] == trained
    assert gate["threshold"] == planted.THRESHOLD
    assert gate["accuracy"]["below_threshold"] == names(planted.LOW_ACCURACY)
    assert gate["passed"] == trained - len(planted.STOPPED) - len(planted.LOW_ACCURACY)
    assert gate["stopped"]["students"] == names(planted.STOPPED)
    assert gate["stopped"]["share"] == round(len(planted.STOPPED) / trained, 4)
    assert gate["time"]["limit"] == planted.TIME_FACTOR
    assert gate["time"]["over_limit"] == names(planted.STOPPED)
    assert sum(gate["time"]["histogram"]["counts"]) == trained
    finished = trained - len(planted.STOPPED)
    assert sum(gate["accuracy"]["histogram"]["counts"]) == finished
    assert gate["weakest_first"][:2] == [3, 2] and gate["classes"][3] == "cat"
    means = gate["class_means"]
    for k, offset in enumerate(planted.CLASS_OFFSET):
        assert means[k] - means[0] == pytest.approx(offset - planted.CLASS_OFFSET[0], abs=2e-3)
    confusion = gate["confusion"]
    assert gate["confusion_students"] == finished
    assert sum(map(sum, confusion)) == finished * 10_000
    cat = confusion[3]
    assert max(range(10), key=lambda j: cat[j] if j != 3 else -1) == 5  # cats taken for dogs
    rows = gate["per_class"]
    assert len(rows) == finished and rows[0]["accuracy"] <= rows[-1]["accuracy"]


def test_warnings_across_the_class(generated):
    """Are warnings of one kind together (whatever cell or error each names), and are the
    students under reduced isolation and those with a near-miss file name the planted ones?"""
    _, data = generated
    warnings = data["warnings"]
    kinds = {k["pattern"]: k for k in warnings["kinds"]}
    cells = [k for p, k in kinds.items() if "was skipped" in p]
    assert [c["students"] for c in cells] == [names(planted.SKIPPED_CELLS)]
    assert [k["count"] for k in warnings["kinds"]] == [15, 8, 3]
    assert warnings["reduced_isolation"] == names(planted.REDUCED)
    assert [n["submission"] for n in warnings["near_misses"]] == names(planted.NEAR_MISS)
    assert all(n["exercise"] == "ex3" for n in warnings["near_misses"])


def test_the_similarity_summary(generated):
    """Does the report sum up the similarity report beside the results, pairs with a copied
    exercise apart, and link to it?"""
    out, data = generated
    assert data["similarity"]["reported"] == 2
    assert data["similarity"]["at_threshold"] == 1 and data["similarity"]["one_exercise"] == 1
    assert data["similarity"]["copied_exercises"] == {"ex1": 1, "ex2": 1}
    page = (out / "report" / "index.html").read_text()
    assert 'href="../similarity/similarity.html"' in page
    assert '<td>s003</td><td>s004</td><td class="n">41%</td><td>ex2</td>' in page


def test_the_csv_has_every_test_and_no_formula(generated):
    """Does tests.csv hold a row per student and test, its scores as numbers, and the
    hostile feedback as text a spreadsheet does not run?"""
    out, data = generated
    rows = list(csv.reader(io.StringIO((out / "report" / "tests.csv").read_text())))
    header, body = rows[0], rows[1:]
    assert header == ["submission", "exercise", "test", "status", "score", "max_score", "feedback"]
    graded = planted.SIZE - len(planted.EMPTY)
    assert len(body) == graded * len(planted.catalogue())
    (hostile,) = [
        r for r in body if r[0] == NAMES[planted.HOSTILE] and r[2] == planted.HOSTILE_TEST
    ]
    assert hostile[6] == "'" + planted.HOSTILE_FEEDBACK
    assert not [r for r in body if r[6].startswith(("=", "+", "-", "@"))]


REMOTE = re.compile(r"""(?:src|href|xlink:href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def remote_references(html: str) -> list[str]:
    """Attributes that would load or link something off this machine."""
    return [m.group(0) for m in REMOTE.finditer(html)]


def test_the_page_escapes_student_text_and_points_nowhere(generated):
    """Is the hostile feedback text in the HTML (no script, no image, no element of its
    own), is no attribute a remote URL, and does a policy forbid every load?"""
    out, _ = generated
    page = (out / "report" / "index.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page and "<img" not in page
    assert remote_references(page) == []
    assert remote_references('<img src="https://evil.example/x.png">') != []
    assert remote_references("<a href='//evil.example/'>") != []
    assert "default-src 'none'" in page
    students = re.findall(r'href="\.\./feedback/([^"]+)\.html"', page)
    assert students and all((out / "feedback" / f"{name}.html").is_file() for name in students)


def test_no_results_is_the_commands_error(tmp_path):
    """Are a missing folder, an empty one and a stray JSON clear errors (exit 2)?"""
    with pytest.raises(GraderError, match="no such folder of results"):
        report(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GraderError, match="no results"):
        report(tmp_path / "empty")
    (tmp_path / "empty" / "notes.json").write_text("{}")
    with pytest.raises(GraderError, match="notes.json: not a result of grader run"):
        report(tmp_path / "empty")
    completed = grader("report", tmp_path / "nowhere", timeout=120)
    assert completed.returncode == 2 and "no such folder of results" in completed.stderr


def test_the_command_writes_the_report(tmp_path):
    """Does ``grader report RESULTS --dest DIR`` write there, saying where on stderr only?"""
    out = planted.write(tmp_path / "results", planted.build(20), feedback=False)
    completed = grader("report", out, "--dest", tmp_path / "elsewhere", timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "" and "20 results" in completed.stderr
    assert (tmp_path / "elsewhere" / "index.html").is_file()
    assert not (out / "report").exists()


def test_a_run_with_out_writes_the_report_unless_told_not_to(tmp_path, monkeypatch):
    """Does ``grader run DIR --out OUT`` end by writing OUT/report, and ``--no-report`` not
    (the grading itself stood in for: results written as a run writes them)?"""

    def graded(paths, *, out=None, **_):
        results = planted.build(5)
        planted.write(Path(out), results, feedback=False)
        return results

    monkeypatch.setattr(cli, "run", graded)
    assert cli.main(["run", "class", "--out", str(tmp_path / "a")]) == 0
    assert (tmp_path / "a" / "report" / "index.html").is_file()
    assert cli.main(["run", "class", "--out", str(tmp_path / "b"), "--no-report"]) == 0
    assert not (tmp_path / "b" / "report").exists()


# The page in a real browser: Debian's chromium, headless, with every host unresolvable.

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (Debian: apt-get install chromium): the report's page "
    "is not opened in a browser",
)


def chromium(page: Path, scratch: Path, *, screenshot: bool = False) -> dict:
    """Open ``page`` headless, network names unresolvable; its DOM, its screenshot (PNG
    bytes, with ``screenshot``) and the requests the page itself made (from the NetLog)."""
    scratch.mkdir(parents=True, exist_ok=True)
    net = scratch / "netlog.json"
    command = [*chromium_command(scratch / "profile"), f"--log-net-log={net}", "--dump-dom"]
    if screenshot:
        command.append(f"--screenshot={scratch / 'page.png'}")
    done = subprocess.run(
        [*command, page.resolve().as_uri()], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return {
        "dom": done.stdout,
        "png": (scratch / "page.png").read_bytes() if screenshot else None,
        "requests": page_requests(json.loads(net.read_text())),
    }


def page_requests(netlog: dict) -> list[str]:
    """The URLs the page asked for: the NetLog's requests that have an initiator (the
    browser's own, such as update checks, have none)."""
    kinds = {number: name for name, number in netlog["constants"]["logEventTypes"].items()}
    return [
        event["params"]["url"]
        for event in netlog["events"]
        if kinds.get(event["type"]) == "URL_REQUEST_START_JOB"
        and event.get("params", {}).get("initiator", "not an origin") != "not an origin"
    ]


@pytest.fixture(scope="module")
def browsed(generated, tmp_path_factory):
    """The report opened once in Chromium, and a page that loads an image from the network
    (so that the request check is seen to catch one)."""
    out, _ = generated
    scratch = tmp_path_factory.mktemp("chromium")
    control = scratch / "control.html"
    control.write_text('<!DOCTYPE html><img src="http://example.invalid/pixel.png"><p>x</p>')
    return (
        chromium(out / "report" / "index.html", scratch / "report", screenshot=True),
        chromium(control, scratch / "control"),
    )


@needs_chromium
def test_chromium_renders_the_page_with_its_charts(browsed):
    """Does Chromium build the page with every chart, no script, and the hostile feedback as
    text?"""
    seen, _ = browsed
    dom = seen["dom"]
    assert dom.count("<svg") == 12  # totals, 5 exercises, pass rates, quality, 4 of the gate
    assert "<script" not in dom and "&lt;script&gt;alert(1)" in dom
    assert "Class report" in dom


def chart_pixels(png: bytes) -> int:
    """How many pixels of the screenshot are the charts' bar blue."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    return sum(count for count, colour in image.getcolors(1 << 24) if colour == (21, 101, 192))


@needs_chromium
def test_a_screenshot_shows_the_charts(browsed, tmp_path):
    """Is the screenshot a PNG of the whole window, with thousands of chart pixels (and a
    blank page none)?"""
    from PIL import Image

    seen, _ = browsed
    assert seen["png"][:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(io.BytesIO(seen["png"])).size == (1280, 2400)
    assert chart_pixels(seen["png"]) > 20_000
    blank = io.BytesIO()
    Image.new("RGB", (1280, 2400), "white").save(blank, "PNG")
    assert chart_pixels(blank.getvalue()) == 0


@needs_chromium
def test_no_request_leaves_the_page(browsed):
    """Does the report ask for nothing over the network, while a page with a remote image
    is seen asking?"""
    seen, control = browsed
    assert seen["requests"] == []
    assert control["requests"] == ["http://example.invalid/pixel.png"]
