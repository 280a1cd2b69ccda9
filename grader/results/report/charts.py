"""The class report's pictures as inline SVG: histograms, bars, a scatter and heat maps.

Each chart is geometry computed per shape, built with :func:`grader.results.pages.el`, which
escapes every text and attribute (a student's name in a tooltip is text, never markup).
Nothing is loaded from anywhere: no fonts, no scripts, no images.
"""

from __future__ import annotations

import math

from grader.results.pages import Markup, el

BLUE = "#1565c0"
RED = "#c62828"
GREY = "#9e9e9e"
VIRIDIS = (
    (0.0, (68, 1, 84)),
    (0.25, (59, 82, 139)),
    (0.5, (33, 145, 140)),
    (0.75, (94, 201, 98)),
    (1.0, (253, 231, 37)),
)
"""Stops of the viridis colour scale (dark is low), readable in grey and by most colour-blind
readers."""
EXERCISE_COLOURS = ("#1565c0", "#6a1b9a", "#00838f", "#ef6c00", "#2e7d32", "#5d4037")


def _f(value: float) -> str:
    return f"{value:.1f}"


def _svg(*parts, width: float, height: float, title: str) -> Markup:
    return el(
        "svg",
        el("title", title),
        *parts,
        xmlns="http://www.w3.org/2000/svg",
        width=_f(width),
        height=_f(height),
        viewBox=f"0 0 {_f(width)} {_f(height)}",
        role="img",
        font_family="system-ui, sans-serif",
        font_size="11",
    )


def _dashed(x: float, top: float, bottom: float, label: str, colour: str) -> list[Markup]:
    return [
        el(
            "line",
            x1=_f(x),
            x2=_f(x),
            y1=_f(top),
            y2=_f(bottom),
            stroke=colour,
            stroke_width="1.5",
            stroke_dasharray="5 3",
        ),
        el("text", label, x=_f(x + 3), y=_f(top + 9), fill=colour, font_size="10"),
    ]


def histogram(
    counts: list[int],
    edges: list[float],
    *,
    title: str,
    markers: tuple[tuple[float, str, str], ...] = (),
    box: dict | None = None,
    width: int = 460,
    height: int = 180,
    unit: str = "",
) -> Markup:
    """Bars of ``counts`` over ``edges``, each labelled with its count; ``markers`` are
    dashed lines ``(value, label, colour)`` (a threshold, a limit); ``box`` (``q1``,
    ``median``, ``q3``, ``min``, ``max``, ``mean``) is drawn above the bars as a box plot."""
    left, right, bottom, top = 34, 12, 28, 30 if box or markers else 14
    low, high = edges[0], edges[-1]
    span = (high - low) or 1.0
    plot_w, plot_h = width - left - right, height - top - bottom
    tallest = max(max(counts, default=0), 1)

    def x_of(value: float) -> float:
        return left + (min(max(value, low), high) - low) / span * plot_w

    parts = [
        el("line", x1=left, x2=width - right, y1=height - bottom, y2=height - bottom, stroke="#444")
    ]
    for i, count in enumerate(counts):
        x0, x1 = x_of(edges[i]), x_of(edges[i + 1])
        h = plot_h * count / tallest
        y = height - bottom - h
        tip = f"{edges[i]:g}-{edges[i + 1]:g}{unit}: {count}"
        parts.append(
            el(
                "rect",
                el("title", tip),
                x=_f(x0 + 0.5),
                y=_f(y),
                width=_f(max(x1 - x0 - 1, 0.5)),
                height=_f(h),
                fill=BLUE,
            )
        )
        if count:
            parts.append(
                el(
                    "text",
                    count,
                    x=_f((x0 + x1) / 2),
                    y=_f(y - 2),
                    text_anchor="middle",
                    font_size="9",
                    fill="#222",
                )
            )
    for value in _ticks(low, high):
        parts.append(
            el(
                "text",
                f"{value:g}{unit}",
                x=_f(x_of(value)),
                y=_f(height - bottom + 13),
                text_anchor="middle",
                fill="#222",
            )
        )
    for value, label, colour in markers:
        if value is not None:
            parts += _dashed(x_of(value), 4, height - bottom, label, colour)
    if box and box.get("median") is not None:
        y = 8
        parts.append(
            el(
                "line",
                x1=_f(x_of(box["min"])),
                x2=_f(x_of(box["max"])),
                y1=y + 6,
                y2=y + 6,
                stroke="#444",
            )
        )
        parts.append(
            el(
                "rect",
                el("title", _box_title(box, unit)),
                x=_f(x_of(box["q1"])),
                y=y,
                width=_f(max(x_of(box["q3"]) - x_of(box["q1"]), 1)),
                height=12,
                fill="#e3f2fd",
                stroke="#444",
            )
        )
        parts.append(
            el(
                "line",
                x1=_f(x_of(box["median"])),
                x2=_f(x_of(box["median"])),
                y1=y,
                y2=y + 12,
                stroke="#000",
                stroke_width="2",
            )
        )
        parts.append(el("circle", cx=_f(x_of(box["mean"])), cy=y + 6, r=3, fill=RED))
    return _svg(*parts, width=width, height=height, title=title)


def _box_title(box: dict, unit: str) -> str:
    return (
        f"min {box['min']:g}{unit}, first quartile {box['q1']:g}{unit}, median "
        f"{box['median']:g}{unit}, third quartile {box['q3']:g}{unit}, max {box['max']:g}{unit}; "
        f"mean {box['mean']:g}{unit} (red dot)"
    )


def _ticks(low: float, high: float, most: int = 6) -> list[float]:
    """Round values from ``low`` to ``high``: a step of 1, 2, 2.5 or 5 times a power of ten,
    at most ``most`` of them."""
    span = high - low
    if span <= 0:
        return [low]
    power = 10 ** math.floor(math.log10(span))
    step = next(
        m * power for m in (0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10) if span / (m * power) < most
    )
    first = math.ceil(low / step - 1e-9) * step
    return [round(first + k * step, 6) for k in range(int((high - first) / step + 1e-9) + 1)]


def bars(
    rows: list[tuple[str, float | None, str, str]],
    *,
    title: str,
    width: int = 760,
    label_width: int = 330,
    row_height: int = 15,
) -> Markup:
    """Horizontal bars over 0-100%, one row each ``(label, value 0-1, colour, tooltip)``, in
    the order given, each with its percentage."""
    bar_w = width - label_width - 50
    height = row_height * len(rows) + 24
    parts = []
    for value in (0, 0.25, 0.5, 0.75, 1):
        x = label_width + value * bar_w
        parts.append(el("line", x1=_f(x), x2=_f(x), y1=0, y2=height - 16, stroke="#e0e0e0"))
        parts.append(el("text", f"{value:.0%}", x=_f(x), y=height - 4, text_anchor="middle"))
    for i, (label, value, colour, tip) in enumerate(rows):
        y = i * row_height
        parts.append(
            el("text", label, x=label_width - 6, y=_f(y + row_height - 4), text_anchor="end")
        )
        if value is None:
            continue
        w = max(value * bar_w, 0.5)
        parts.append(
            el(
                "rect",
                el("title", tip),
                x=label_width,
                y=_f(y + 2),
                width=_f(w),
                height=row_height - 4,
                fill=colour,
            )
        )
        parts.append(
            el("text", f"{value:.0%}", x=_f(label_width + w + 4), y=_f(y + row_height - 4))
        )
    return _svg(*parts, width=width, height=height, title=title)


def scatter(
    points: list[tuple[float, float, str, str]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    y_range: tuple[float, float] = (-1.0, 1.0),
    line: float | None = None,
    width: int = 460,
    height: int = 300,
) -> Markup:
    """Dots ``(x 0-1, y, colour, tooltip)``, x as a percentage, a ring on 0 where ``y`` is
    None, a dashed line at ``y=line``."""
    left, right, top, bottom = 44, 12, 10, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    low, high = y_range

    def at(x: float, y: float) -> tuple[str, str]:
        y = min(max(y, low), high)
        return _f(left + x * plot_w), _f(top + (high - y) / (high - low) * plot_h)

    parts = [el("rect", x=left, y=top, width=plot_w, height=plot_h, fill="none", stroke="#bbb")]
    for value in (0, 0.25, 0.5, 0.75, 1):
        x, _ = at(value, low)
        parts.append(
            el("text", f"{value:.0%}", x=x, y=_f(height - bottom + 13), text_anchor="middle")
        )
    for value in _ticks(low, high):
        _, y = at(0, value)
        parts.append(el("text", f"{value:g}", x=left - 4, y=y, text_anchor="end"))
    if line is not None:
        _, y = at(0, line)
        parts.append(
            el("line", x1=left, x2=width - right, y1=y, y2=y, stroke=RED, stroke_dasharray="5 3")
        )
    parts.append(el("text", x_label, x=_f(left + plot_w / 2), y=height - 4, text_anchor="middle"))
    parts.append(
        el(
            "text",
            y_label,
            x=10,
            y=_f(top + plot_h / 2),
            text_anchor="middle",
            transform=f"rotate(-90 10 {_f(top + plot_h / 2)})",
        )
    )
    for x, y, colour, tip in points:
        if y is None:  # no discrimination (nobody or everybody passes): a ring on the 0 line
            cx, cy = at(x, 0.0)
            look = {"fill": "none", "stroke": colour, "stroke_width": "2"}
        else:
            cx, cy = at(x, y)
            look = {"fill": colour, "fill_opacity": "0.75", "stroke": "#fff"}
        parts.append(el("circle", el("title", tip), cx=cx, cy=cy, r=5, **look))
    return _svg(*parts, width=width, height=height, title=title)


def viridis(value: float) -> str:
    """The colour of ``value`` (0-1) on the viridis scale."""
    value = min(max(value, 0.0), 1.0)
    for (a, ca), (b, cb) in zip(VIRIDIS, VIRIDIS[1:], strict=False):
        if value <= b:
            t = (value - a) / (b - a)
            r, g, bl = (round(p + (q - p) * t) for p, q in zip(ca, cb, strict=True))
            return f"rgb({r},{g},{bl})"
    return "rgb(253,231,37)"


def blues(value: float) -> str:
    """White (0) to dark blue (1)."""
    value = min(max(value, 0.0), 1.0)
    return f"rgb({round(255 - 200 * value)},{round(255 - 170 * value)},255)"


def heatmap(
    rows: list[tuple[str, list[float | None]]],
    columns: list[str],
    *,
    title: str,
    colour=viridis,
    cell_width: int = 38,
    max_height: int = 640,
    numbers: bool = False,
    tips: list[list[str]] | None = None,
    row_title: str = "",
    column_title: str = "",
) -> Markup:
    """A grid: one row per ``(label, values 0-1)``, one column per ``columns`` label, each
    cell coloured by :func:`viridis` (or ``colour``), grey where there is no value. Rows are
    as tall as ``max_height`` allows (a class of 500 gets a pixel each, and labels only where
    rows are tall enough to read); ``numbers`` writes each value as a percentage in its cell;
    a scale from 0 to 100% is drawn beside the grid."""
    count = max(len(rows), 1)
    row_h = max(1.0, min(22.0, max_height / count))
    labelled = row_h >= 10
    left = 110 if labelled else 24
    top = 46
    grid_w = cell_width * len(columns)
    height = top + row_h * len(rows) + 12
    parts = []
    for j, name in enumerate(columns):
        x = left + j * cell_width + cell_width / 2
        parts.append(el("text", name, x=_f(x), y=top - 6, text_anchor="middle", font_size="10"))
    if column_title:
        parts.append(el("text", column_title, x=_f(left + grid_w / 2), y=12, text_anchor="middle"))
    if row_title:
        middle = top + row_h * len(rows) / 2
        parts.append(
            el(
                "text",
                row_title,
                x=10,
                y=_f(middle),
                text_anchor="middle",
                transform=f"rotate(-90 10 {_f(middle)})",
            )
        )
    for i, (label, values) in enumerate(rows):
        y = top + i * row_h
        cells = []
        if labelled:
            cells.append(
                el(
                    "text",
                    label,
                    x=left - 4,
                    y=_f(y + row_h / 2 + 4),
                    text_anchor="end",
                    font_size="10",
                )
            )
        for j, value in enumerate(values):
            tip = tips[i][j] if tips else f"{label}, {columns[j]}: " + _percent(value)
            fill = GREY if value is None else colour(value)
            cells.append(
                el(
                    "rect",
                    el("title", tip),
                    x=_f(left + j * cell_width),
                    y=_f(y),
                    width=cell_width,
                    height=_f(row_h),
                    fill=fill,
                )
            )
            if numbers and value is not None and value >= 0.005:
                dark = value < 0.6 if colour is viridis else value > 0.6
                ink = "#fff" if dark else "#222"
                cells.append(
                    el(
                        "text",
                        f"{value:.0%}",
                        x=_f(left + (j + 0.5) * cell_width),
                        y=_f(y + row_h / 2 + 3),
                        text_anchor="middle",
                        font_size="9",
                        fill=ink,
                    )
                )
        parts.append(el("g", *cells))
    parts += _scale(left + grid_w + 16, top, min(row_h * len(rows), 200), colour)
    return _svg(*parts, width=left + grid_w + 70, height=max(height, top + 210), title=title)


def _percent(value: float | None) -> str:
    return "no value" if value is None else f"{value:.0%}"


def _scale(x: float, y: float, height: float, colour) -> list[Markup]:
    """A vertical colour scale from 100% (top) to 0% (bottom)."""
    steps = 20
    parts = []
    for k in range(steps):
        value = 1 - (k + 0.5) / steps
        parts.append(
            el(
                "rect",
                x=_f(x),
                y=_f(y + k * height / steps),
                width=12,
                height=_f(height / steps + 0.5),
                fill=colour(value),
            )
        )
    parts.append(el("text", "100%", x=_f(x + 16), y=_f(y + 8)))
    parts.append(el("text", "0%", x=_f(x + 16), y=_f(y + height)))
    return parts
