"""What ``grader similarity`` writes: ``similarity.json``, ``similarity.html`` and a table.

The HTML is the template ``grader/results/templates/similarity.html``, rendered with autoescape on
(:mod:`grader.results.pages`), so code from a submission (``</pre><script>...``) is shown as text,
never run. Matching regions are ``<mark>`` elements around escaped text; the histogram of
the class's scores is inline SVG, drawn with :func:`grader.results.pages.el`, which escapes too.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from grader import __version__
from grader.course.config import SimilaritySettings
from grader.files import atomic_write
from grader.results import pages
from grader.results.pages import Markup, el
from grader.similarity.compare import Pair
from grader.similarity.fingerprints import Entry

SCHEMA_VERSION = 1
TABLE_ROWS = 500
"""Reported pairs listed in the HTML's table (similarity.json lists them all)."""


def to_dict(
    flagged: list[Pair],
    entries: list[Entry],
    settings: SimilaritySettings,
    compared: int,
    problems: list[str],
) -> dict:
    """The canonical form (``similarity.json``, its schema in docs/similarity.md) of the
    reported pairs ``flagged`` (:func:`grader.similarity.compare.reported`)."""
    return {
        "schema": SCHEMA_VERSION,
        "grader_version": __version__,
        "method": "copydetect winnowing, released stubs as boilerplate",
        "threshold": settings.threshold,
        "exercise_threshold": settings.exercise_threshold,
        "exercise_min_tokens": settings.exercise_min_tokens,
        "noise_threshold": settings.noise_threshold,
        "guarantee_threshold": settings.guarantee_threshold,
        "submissions": [e.id for e in entries if not e.reference],
        "references": [e.id for e in entries if e.reference],
        "pairs_compared": compared,
        "pairs": [
            {
                "a": p.a,
                "b": p.b,
                "b_is_reference": p.b_reference,
                "score": p.score,
                "exercises": p.exercises,
                "files": {
                    key: {
                        "score": round(f.score, 4),
                        "a_fraction": round(f.fraction_a, 4),
                        "b_fraction": round(f.fraction_b, 4),
                        "a_tokens": f.tokens_a,
                        "b_tokens": f.tokens_b,
                    }
                    for key, f in p.files.items()
                },
            }
            for p in flagged
        ],
        "not_compared": problems,
    }


def write_json(data: dict, path: Path) -> Path:
    text = json.dumps(data) + "\n"
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))
    return path


def _segments(text: str, slices) -> list[tuple[str, bool]]:
    """``text`` cut at the regions of ``slices`` (starts, ends): ``(piece, matched)`` in
    order (a region of blank space alone, where a match ends at a line's end, is left
    unmatched)."""
    parts, at = [], 0
    for start, end in zip(*(np.asarray(s, dtype=int) for s in slices), strict=True):
        start, end = max(start, at), min(end, len(text))
        if end <= start or not text[start:end].strip():
            continue
        parts += [(text[at:start], False), (text[start:end], True)]
        at = end
    parts.append((text[at:], False))
    return parts


def histogram(scores: list[float], threshold: float, bins: int = 20) -> Markup:
    """The class's pair scores in ``bins`` bars over 0-1, each labelled with its count; the
    heights are on a log scale, so that the few pairs far above the rest show; the threshold
    is a dashed line."""
    counts = np.histogram(scores, bins=bins, range=(0.0, 1.0))[0] if scores else [0] * bins
    width, height, pad = 560, 180, 24
    tallest = np.log1p(max(max(counts), 1))
    bar = (width - 2 * pad) / bins
    shapes = []
    for i, count in enumerate(counts):
        h = (height - 2 * pad - 12) * np.log1p(count) / tallest
        x, y = pad + i * bar, height - pad - h
        title = el("title", f"{i / bins:.2f}-{(i + 1) / bins:.2f}: {count} pair(s)")
        size = {"width": f"{bar - 1:.1f}", "height": f"{h:.1f}"}
        shapes.append(el("rect", title, x=f"{x:.1f}", y=f"{y:.1f}", **size))
        if count:
            label = {"x": f"{x + bar / 2:.1f}", "y": f"{y - 3:.1f}", "text_anchor": "middle"}
            shapes.append(el("text", str(count), font_size="9", fill="#222", **label))
    tx = pad + threshold * (width - 2 * pad)
    shapes.append(
        el(
            "line",
            x1=f"{tx:.1f}",
            x2=f"{tx:.1f}",
            y1=str(pad // 2),
            y2=str(height - pad),
            stroke="#c62828",
            stroke_dasharray="4 3",
        )
    )
    for value in (0, 0.25, 0.5, 0.75, 1):
        x = f"{pad + value * (width - 2 * pad):.0f}"
        shapes.append(
            el("text", f"{value:g}", x=x, y=height - 6, fill="#222", text_anchor="middle")
        )
    return el(
        "svg",
        *shapes,
        xmlns="http://www.w3.org/2000/svg",
        width=width,
        height=height,
        fill="#1565c0",
        font_size="11",
        role="img",
    )


def side_by_side_pairs(
    flagged: list[Pair], settings: SimilaritySettings
) -> list[tuple[Pair, list[str] | None]]:
    """The reported pairs the HTML shows side by side, each with the exercises it shows
    (``None``: every file that matches): the first ``report_pairs`` at or above the threshold,
    then the first ``report_pairs`` reported only for a copied exercise, with those
    exercises' files."""
    whole = [(p, None) for p in flagged if p.score >= settings.threshold]
    one = [(p, p.exercises) for p in flagged if p.score < settings.threshold]
    return whole[: settings.report_pairs] + one[: settings.report_pairs]


def _side_by_side(pair: Pair, keys: list[str] | None, documents: dict[str, Entry]) -> dict:
    """A pair's files (those of ``keys`` where given), most similar first, each with both
    sides' text cut at the matches."""
    files = []
    for key, match in sorted(pair.files.items(), key=lambda item: -item[1].score):
        if keys is not None and key not in keys:
            continue
        sides = []
        for name, slices, fraction in (
            (pair.a, match.slices_a, match.fraction_a),
            (pair.b, match.slices_b, match.fraction_b),
        ):
            document = documents[name].documents[key]
            sides.append(
                {
                    "name": name,
                    "filename": document.filename,
                    "fraction": fraction,
                    "segments": _segments(document.text, slices),
                }
            )
        files.append({"key": key, "score": match.score, "sides": sides})
    return {"pair": pair, "files": files}


def _percent(value: float) -> str:
    return f"{value:.0%}"


def render_html(
    data: dict,
    scores: list[float],
    flagged: list[Pair],
    shown: list[tuple[Pair, list[str] | None]],
    entries: list[Entry],
    settings: SimilaritySettings,
) -> str:
    """The whole report: parameters, histogram of every pair's ``scores``, the reported pairs
    ranked (at or above the threshold, then those reported for a copied exercise), then the
    pairs ``shown`` side by side."""
    by_id = {e.id: e for e in entries}
    counts = {"pair": 0, "copied": 0}  # each table links to its own pairs shown
    pieces = []
    for pair, keys in shown:
        anchor = "pair" if keys is None else "copied"
        counts[anchor] += 1
        piece = _side_by_side(pair, keys, by_id)
        pieces.append({**piece, "anchor": anchor, "number": counts[anchor]})
    return pages.render(
        "similarity.html",
        data=data,
        settings=settings,
        whole=[p for p in flagged if p.score >= settings.threshold],
        one=[p for p in flagged if p.score < settings.threshold],
        table_rows=TABLE_ROWS,
        shown=pieces,
        linked=counts,
        histogram=histogram(scores, settings.threshold),
        percent=_percent,
    )


def write_html(page: str, path: Path) -> Path:
    atomic_write(path, lambda f: f.write(page.encode("utf-8")))
    return path


def table(data: dict, limit: int = 15) -> str:
    """The short table for stderr: the top pairs at or above the threshold, the top pairs
    reported for a copied exercise, then what was not compared."""
    whole = [p for p in data["pairs"] if p["score"] >= data["threshold"]]
    one = [p for p in data["pairs"] if p["score"] < data["threshold"]]
    lines = [
        f"similarity: {data['pairs_compared']} pairs compared, {len(whole)} at or above "
        f"{data['threshold']:.0%}, {len(one)} more with one exercise's files at or above "
        f"{data['exercise_threshold']:.0%}"
    ]
    width = max((len(p["a"]) for p in (whole[:limit] + one[:limit])), default=1)
    for pairs, heading in ((whole, "b"), (one, "b (the exercises copied)")):
        if not pairs:
            continue
        lines.append(f"  {'a'.ljust(width)}  {'score':>5}  {heading}")
        for p in pairs[:limit]:
            b = p["b"] + (" (reference)" if p["b_is_reference"] else "")
            copied = f" ({', '.join(p['exercises'])})" if pairs is one else ""
            lines.append(f"  {p['a'].ljust(width)}  {p['score']:>5.0%}  {b}{copied}")
        if len(pairs) > limit:
            lines.append(f"  ... and {len(pairs) - limit} more in similarity.json")
    lines += [f"  not compared: {line}" for line in data["not_compared"]]
    return "\n".join(lines)
