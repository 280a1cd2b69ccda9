"""JUnit XML: one ``<testsuite>`` per exercise of each submission, one ``<testcase>`` per test."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from grader.results.model import GradedTest, SubmissionResult

# Our statuses as JUnit elements: a wrong answer or a timeout is a failure, a grader
# problem an error, a test left out (the gate under --no-gate) is skipped.
ELEMENT = {"failed": "failure", "timeout": "failure", "error": "error", "skipped": "skipped"}


def _case(suite: ET.Element, classname: str, test: GradedTest) -> None:
    case = ET.SubElement(
        suite, "testcase", classname=classname, name=test.name, time=f"{test.duration_s:.3f}"
    )
    tag = ELEMENT.get(test.status)
    if tag is not None:
        message = test.feedback or test.status
        node = ET.SubElement(case, tag, message=message.splitlines()[0][:500], type=test.status)
        node.text = f"{message}\n({test.status}, 0 of {test.max_score:g} points)"


def render(results: list[SubmissionResult]) -> str:
    root = ET.Element("testsuites", name="grader")
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    for result in results:
        for key, exercise in result.exercises.items():
            tests = [t for t in result.tests if t.exercise == key]
            counts = {
                "tests": len(tests),
                "failures": sum(ELEMENT.get(t.status) == "failure" for t in tests),
                "errors": sum(t.status == "error" for t in tests),
                "skipped": sum(t.status == "skipped" for t in tests),
            }
            for name, value in counts.items():
                totals[name] += value
            name = f"{result.submission}.{key}"
            suite = ET.SubElement(
                root,
                "testsuite",
                name=name,
                time=f"{sum(t.duration_s for t in tests):.3f}",
                **{k: str(v) for k, v in counts.items()},
            )
            properties = ET.SubElement(suite, "properties")
            for prop, value in (
                ("score", exercise.score),
                ("max_score", exercise.max_score),
                ("message", exercise.message),
            ):
                ET.SubElement(properties, "property", name=prop, value=str(value))
            for test in tests:
                _case(suite, name, test)
    root.attrib.update({k: str(v) for k, v in totals.items()})
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, "unicode") + "\n"
