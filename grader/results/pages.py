"""HTML pages from the templates in ``grader/results/templates/``, every value escaped.

The pages (a student's feedback, the class's similarity report) are Jinja templates
rendered with autoescape on: text from a submission or a worker is escaped wherever it is
put, so nothing a student prints, raises or hands in can inject markup. The inline SVG
charts are geometry computed per shape, which reads better as code: :func:`el` builds them,
escaping every text and attribute too, and returns :class:`Markup` the templates insert
as it is. A template's ``_()`` (Jinja's i18n extension) writes in the current language
(:mod:`grader.i18n`); the staff's pages mark nothing and stay English.
"""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from grader import i18n

__all__ = ["Markup", "el", "render"]


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("grader.results", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
    )
    environment.install_gettext_callables(  # type: ignore[attr-defined]
        lambda message: i18n.catalog(i18n.current()).gettext(message),
        lambda singular, plural, n: i18n.catalog(i18n.current()).ngettext(singular, plural, n),
        newstyle=True,
    )
    return environment


def render(template: str, **context) -> str:
    """``grader/results/templates/<template>`` rendered with ``context`` (autoescaped)."""
    return _environment().get_template(template).render(**context)


def el(tag: str, *children, **attrs) -> Markup:
    """``<tag attrs>children</tag>``; strings are escaped, :class:`Markup` is not. An
    attribute's trailing ``_`` is dropped and ``_`` becomes ``-`` (``class_``,
    ``text_anchor``); a ``None`` value leaves it out."""
    attributes = "".join(
        f' {name.rstrip("_").replace("_", "-")}="{escape(str(value))}"'
        for name, value in attrs.items()
        if value is not None
    )
    inner = "".join(str(escape(child)) for child in children)
    return Markup(f"<{tag}{attributes}>{inner}</{tag}>")
