"""Every output format, rendered from one batch of the example submissions (and, where the
gate's numbers matter, from results built by hand)."""

import csv
import io
import json
import xml.etree.ElementTree as ET

import jsonschema
import pytest
from conftest import REPO, grader, json_results

from grader.results import feedback_page
from grader.results.formats import gradescope, render
from grader.results.model import GradedTest, SubmissionResult

# Gradescope's documented results.json (gradescope-autograders.readthedocs.io, "specs"):
# every field optional except that a score must be given at the top or on each test.
VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
FORMAT = {"enum": ["text", "html", "simple_format", "md", "ansi"]}
GRADESCOPE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "number", "minimum": 0},
        "output": {"type": "string"},
        "output_format": FORMAT,
        "test_output_format": FORMAT,
        "test_name_format": FORMAT,
        "visibility": VISIBILITY,
        "stdout_visibility": VISIBILITY,
        "extra_data": {"type": "object"},
        "tests": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "score": {"type": "number"},
                    "max_score": {"type": "number"},
                    "status": {"enum": ["passed", "failed"]},
                    "name": {"type": "string"},
                    "name_format": FORMAT,
                    "number": {"type": "string"},
                    "output": {"type": "string"},
                    "output_format": FORMAT,
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "visibility": VISIBILITY,
                    "extra_data": {"type": "object"},
                },
            },
        },
        "leaderboard": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "value"],
                "properties": {
                    "name": {"type": "string"},
                    "value": {"type": ["number", "string"]},
                    "order": {"enum": ["asc", "desc"]},
                },
            },
        },
    },
    "anyOf": [
        {"required": ["score"]},
        {"properties": {"tests": {"items": {"required": ["score"]}}}},
    ],
}
EXAMPLES = REPO / "examples" / "submissions"
RUN = ("run", EXAMPLES, "--exercises", "ex1,ex4", "--no-gate")


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """The example submissions graded once; later formats reuse the stored results."""
    out = tmp_path_factory.mktemp("formats") / "results"
    completed = grader(*RUN, "--format", "json", "--out", out)
    assert completed.returncode == 0, completed.stderr
    return out, {r["submission"]: r for r in json_results(completed)}


def rendered(batch, fmt, env=None) -> str:
    out, _ = batch
    completed = grader(*RUN, "--format", fmt, "--out", out, env=env)
    assert completed.returncode == 0, completed.stderr
    assert "2 of 2 already graded" in completed.stderr
    return completed.stdout


def hand_made(feedback="wrong sign", accuracy=0.61) -> SubmissionResult:
    """A result with the gate's metrics, as the suite records them."""
    confusion = [[90 if i == j else 1 for j in range(10)] for i in range(10)]
    gate = GradedTest(
        "test_accuracy_gate",
        "ex5",
        8,
        8,
        "passed",
        duration_s=90.0,
        metrics={
            "accuracy": accuracy,
            "threshold": 0.58,
            "train_s": 88.5,
            "time_limit_s": 180.0,
            "per_class": [0.5, 0.7, float("nan"), 0.4, 0.6, 0.5, 0.7, 0.6, 0.8, 0.7],
            "confusion": confusion,
        },
    )
    wrong = GradedTest(
        "test_sse_grads", "ex1", 0, 5, "failed", feedback, 0.01, visibility="after_due_date"
    )
    tests = [wrong, gate]
    return SubmissionResult.build(
        "zoe",
        tests,
        {"ex1": 20, "ex5": 30},
        device="cpu",
        isolation="bwrap",
        grader_version="0.1.0",
        duration_s=93.2,
    )


def test_examples_graded_in_json(batch):
    """Are both examples graded, the notebooks (full_marks) fully on ex1 and ex4?"""
    _, results = batch
    assert set(results) == {"full_marks", "partly_right"}
    assert results["full_marks"]["score"] == 35
    assert results["partly_right"]["score"] < 35


def test_csv_gradebook_reads_back(batch):
    """Does the CSV hold a row per submission and a column per exercise, matching the JSON?"""
    _, results = batch
    rows = list(csv.DictReader(io.StringIO(rendered(batch, "csv"))))
    assert [r["submission"] for r in rows] == ["full_marks", "partly_right"]
    for row in rows:
        result = results[row["submission"]]
        assert float(row["total"]) == result["score"]
        for key in ("ex1", "ex4"):
            assert float(row[key]) == result["exercises"][key]["score"]


def test_junit_parses_with_a_suite_per_exercise(batch):
    """Is the JUnit XML well formed, one testsuite per exercise, failures where tests failed?"""
    _, results = batch
    root = ET.fromstring(rendered(batch, "junit"))
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {f"{s}.{e}" for s in results for e in ("ex1", "ex4")}
    for name, suite in suites.items():
        submission, exercise = name.split(".")
        tests = [t for t in results[submission]["tests"] if t["exercise"] == exercise]
        failing = [t for t in tests if t["status"] in ("failed", "timeout")]
        assert int(suite.get("tests")) == len(suite.findall("testcase")) == len(tests)
        assert int(suite.get("failures")) == len(failing) == len(suite.findall("*/failure"))


def test_gradescope_matches_the_documented_schema(batch):
    """Is each Gradescope results.json valid per the spec, scores equal to the JSON's?"""
    _, results = batch
    for line in rendered(batch, "gradescope").splitlines():
        data = json.loads(line)
        jsonschema.validate(data, GRADESCOPE_SCHEMA)
        assert data["score"] == results[data["extra_data"]["submission"]]["score"]


def test_gradescope_leaderboard_and_visibility():
    """Does the gate's accuracy become a leaderboard entry, visibility map to Gradescope's?"""
    data = gradescope.results_json(hand_made())
    jsonschema.validate(data, GRADESCOPE_SCHEMA)
    assert data["leaderboard"][0] == {"name": "Accuracy", "value": 0.61, "order": "desc"}
    assert [t["visibility"] for t in data["tests"]] == ["after_due_date", "visible"]
    assert data["execution_time"] == 94 and data["tests"][0]["status"] == "failed"


def test_github_annotations_and_step_summary(batch, tmp_path):
    """Do failed tests become ::error annotations and the table go to the step summary?"""
    summary = tmp_path / "summary.md"
    stdout = rendered(batch, "github", env={"GITHUB_STEP_SUMMARY": str(summary)})
    errors = [line for line in stdout.splitlines() if line.startswith("::error ")]
    assert errors and all("partly_right" in e for e in errors)
    assert all("file=ex" in e for e in errors) and "\n" not in errors[0]
    text = summary.read_text()
    assert "| full_marks |" in text and "**35/35**" in text


def test_github_annotation_escapes_newlines_and_percent():
    """Is a multi-line feedback with % kept on one workflow-command line?"""
    text = render("github", [hand_made(feedback="100% wrong\nsee line 2")])
    (line,) = [x for x in text.splitlines() if x.startswith("::error")]
    assert line.endswith("::100%25 wrong%0Asee line 2")


def test_feedback_page_escapes_and_draws_the_gate():
    """Is student text escaped in the HTML, and are the two gate pictures there?"""
    page = feedback_page.render(hand_made(feedback="<script>alert(1)</script>"))
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<svg") == 2 and "no samples" in page and "confusion matrix" in page
    ET.fromstring(page.split("<body>")[1].split("</body>")[0].join(["<b>", "</b>"]))


def test_feedback_page_escapes_every_text_it_shows():
    """Are a hostile submission name, warning, exercise message, test name and feedback all
    shown as text (no element of theirs in the page), wherever the page puts them?"""
    hostile = '<img src=x onerror="alert(1)">'
    failed = GradedTest(f"test_{hostile}", "ex1", 0, 5, "failed", f"got {hostile}", 0.01)
    result = SubmissionResult.build(
        f"eve{hostile}",
        [failed],
        {"ex1": 20, "ex2": 20},
        messages={"ex2": f"not graded: {hostile}"},
        device="cpu",
        isolation="bwrap",
        grader_version="0.1.0",
        duration_s=1.0,
        warnings=[f"cell skipped: {hostile}"],
    )
    page = feedback_page.render(result)
    assert "<img" not in page
    # the title, the heading, the message, the warning, the test and its feedback
    assert page.count("&lt;img src=x onerror=") == 6
    body = page.split("<body>")[1].split("</body>")[0]
    ET.fromstring(f"<b>{body}</b>")


def test_out_folder_has_a_feedback_page_per_submission(batch):
    """Does --out get feedback/<submission>.html naming each failed test?"""
    out, results = batch
    page = (out / "feedback" / "partly_right.html").read_text()
    failed = [t["name"] for t in results["partly_right"]["tests"] if t["status"] != "passed"]
    assert failed and all(name in page for name in failed)
