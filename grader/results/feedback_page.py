"""A feedback page per student (HTML): what failed and why; for the gate, two pictures.

The page is the template ``grader/results/templates/feedback.html``, rendered with autoescape on
(:mod:`grader.results.pages`), so nothing a submission prints or raises can inject markup. The
gate's per-class accuracy (a bar chart) and its confusion matrix (a heat map) are inline
SVG, drawn here with :func:`grader.results.pages.el`, which escapes as well. Every word on it
is in the result's language (its feedback was written in it), with fonts that hold it.
"""

from __future__ import annotations

import math
from pathlib import Path

from grader import i18n
from grader.files import atomic_write
from grader.i18n import N_, _
from grader.kit import CLASS_NAMES
from grader.results import pages
from grader.results.model import SubmissionResult
from grader.results.pages import Markup, el

STATUS_COLOUR = {
    "passed": "#2e7d32",
    "failed": "#c62828",
    "timeout": "#ef6c00",
    "error": "#6a1b9a",
    "skipped": "#757575",
}
STATUS_WORDS = {
    "passed": N_("passed"),
    "failed": N_("failed"),
    "timeout": N_("timeout"),
    "error": N_("error"),
    "skipped": N_("skipped"),
}
"""Each test status as the page says it."""
FONTS = {
    "en": {"text": "system-ui, sans-serif", "code": "monospace"},
    "zh_CN": {
        "text": "system-ui, Noto Sans CJK SC, Source Han Sans SC, PingFang SC, Microsoft YaHei, "
        "sans-serif",
        "code": "monospace, Noto Sans Mono CJK SC, Noto Sans CJK SC, Source Han Sans SC, "
        "PingFang SC, Microsoft YaHei, sans-serif",
    },
}
"""The page's fonts per language (CSS ``font-family``): for Chinese, after the system's own,
the common Simplified Chinese fonts of Linux, macOS and Windows, so that every character has
a glyph wherever the page is opened."""


def _fmt(value: float) -> str:
    return f"{value:g}"


def _class_name(index: int) -> str:
    return CLASS_NAMES[index] if index < len(CLASS_NAMES) else str(index)


def accuracy_chart(per_class: list, threshold: float | None) -> Markup:
    """Horizontal bars, one per class, with the course threshold as a dashed line."""
    bar_w, row_h, left = 300, 22, 60
    height = row_h * len(per_class) + 30
    parts = []
    for i, value in enumerate(per_class):
        y = 10 + i * row_h
        name = _class_name(i)
        parts.append(el("text", name, x=left - 6, y=y + 15, text_anchor="end", font_size=12))
        if value is None or (isinstance(value, float) and math.isnan(value)):
            parts.append(el("text", _("no samples"), x=left + 4, y=y + 15, font_size=12))
            continue
        width = max(0.0, min(1.0, float(value))) * bar_w
        parts.append(
            el("rect", x=left, y=y + 2, width=f"{width:.1f}", height=row_h - 6, fill="#1565c0")
        )
        parts.append(el("text", f"{value:.0%}", x=left + width + 4, y=y + 15, font_size=12))
    if threshold is not None:
        x = left + threshold * bar_w
        parts.append(
            el(
                "line",
                x1=f"{x:.1f}",
                x2=f"{x:.1f}",
                y1=5,
                y2=height - 15,
                stroke="#c62828",
                stroke_dasharray="4 3",
            )
        )
        parts.append(
            el(
                "text",
                _("required {threshold:.0%}", threshold=threshold),
                x=f"{x:.1f}",
                y=height - 2,
                font_size=11,
                text_anchor="middle",
                fill="#c62828",
            )
        )
    return el(
        "svg",
        el("title", _("per-class accuracy")),
        *parts,
        xmlns="http://www.w3.org/2000/svg",
        width=left + bar_w + 50,
        height=height,
        role="img",
    )


def confusion_chart(confusion: list[list[int]]) -> Markup:
    """A heat map: rows are true classes, columns predicted; darker is more images."""
    n, cell, left, top = len(confusion), 30, 50, 50
    largest = max((v for row in confusion for v in row), default=0) or 1
    parts = []
    for j in range(n):
        label = _class_name(j)
        parts.append(
            el(
                "text",
                label,
                x=left + j * cell + cell / 2,
                y=top - 6,
                font_size=10,
                text_anchor="middle",
            )
        )
        parts.append(
            el(
                "text",
                label,
                x=left - 4,
                y=top + j * cell + cell / 2 + 4,
                font_size=10,
                text_anchor="end",
            )
        )
    for i, row in enumerate(confusion):
        for j, value in enumerate(row):
            shade = value / largest
            fill = f"rgb({int(255 - 200 * shade)},{int(255 - 170 * shade)},255)"
            text_fill = "#fff" if shade > 0.6 else "#222"
            parts.append(
                el(
                    "rect",
                    el(
                        "title",
                        _(
                            "true {true}, predicted {predicted}: {count}",
                            true=_class_name(i),
                            predicted=_class_name(j),
                            count=value,
                        ),
                    ),
                    x=left + j * cell,
                    y=top + i * cell,
                    width=cell,
                    height=cell,
                    fill=fill,
                    stroke="#fff",
                )
            )
            parts.append(
                el(
                    "text",
                    value,
                    x=left + j * cell + cell / 2,
                    y=top + i * cell + cell / 2 + 4,
                    font_size=9,
                    text_anchor="middle",
                    fill=text_fill,
                )
            )
    size = left + n * cell + 10
    heading = el(
        "text", _("predicted"), x=left + n * cell / 2, y=14, font_size=12, text_anchor="middle"
    )
    return el(
        "svg",
        el("title", _("confusion matrix")),
        heading,
        *parts,
        xmlns="http://www.w3.org/2000/svg",
        width=size,
        height=top + n * cell + 10,
        role="img",
    )


def time_summary(metrics: dict) -> str:
    """How long training took, against what (the reference's cost here, or seconds)."""
    said = {
        "ratio": metrics.get("time_ratio"),
        "factor": metrics.get("time_factor", 0),
        "seconds": metrics.get("train_s", 0),
        "limit": metrics.get("time_limit_s", 0),
    }
    if said["ratio"] is not None and metrics.get("time_basis") == "cpu":
        return _(
            "training took {ratio:.1f}x the reference's CPU time on the grading machine (limit "
            "{factor:g}x), {seconds:.0f} s.",
            **said,
        )
    if said["ratio"] is not None:
        return _(
            "training took {ratio:.1f}x the reference's time on the grading machine (limit "
            "{factor:g}x), {seconds:.0f} s.",
            **said,
        )
    return _("training took {seconds:.0f} s of {limit:g} s.", **said)


def _gate(result: SubmissionResult) -> dict | None:
    """The gate's summary and pictures, where it measured an accuracy."""
    metrics = result.gate_metrics()
    if metrics.get("accuracy") is None:
        return None
    summary = _(
        "Test accuracy {accuracy:.1%} (required {threshold:.0%}); {time}",
        accuracy=metrics["accuracy"],
        threshold=metrics.get("threshold", 0),
        time=time_summary(metrics),
    )
    per_class, confusion = metrics.get("per_class"), metrics.get("confusion")
    return {
        "summary": summary,
        "accuracy_chart": accuracy_chart(per_class, metrics.get("threshold"))
        if per_class
        else None,
        "confusion_chart": confusion_chart(confusion) if confusion else None,
    }


def render(result: SubmissionResult) -> str:
    """The whole page for one submission, in its language."""
    skipped = [[t] for t in result.tests if t.status == "skipped"]
    language = result.language if result.language in i18n.LANGUAGES else i18n.DEFAULT
    with i18n.using(language):
        return pages.render(
            "feedback.html",
            result=result,
            groups=[*result.failure_groups(), *skipped],
            gate=_gate(result),
            points=_fmt,
            colours=STATUS_COLOUR,
            statuses={status: _(word) for status, word in STATUS_WORDS.items()},
            lang=i18n.HTML_LANG[language],
            fonts=FONTS[language],
        )


def write_all(results: list[SubmissionResult], folder: Path) -> list[Path]:
    """``<folder>/<submission>.html`` for each result, each written atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for result in results:
        path = folder / f"{result.submission}.html"
        page = render(result).encode("utf-8")
        atomic_write(path, lambda f, data=page: f.write(data))
        paths.append(path)
    return paths
