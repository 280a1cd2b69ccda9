"""The language of everything a student reads: gettext catalogs and the one in use.

Every message a student can read is written once, in English, where it is made, and marked:
``_("the sign is wrong: {what}", what=...)`` translates and fills named placeholders,
``n_(singular, plural, n, ...)`` where English says one and many, and ``N_(...)`` marks a
constant translated where it is used (``_(CONSTANT)``). The English text is the message's id;
``babel.cfg`` tells ``pybabel extract`` where the marks are, and the translations live in
``grader/locale/<language>/LC_MESSAGES/grader.po``, compiled beside it to ``grader.mo``
(``make messages`` does all three; ``tests/test_i18n.py`` checks they agree).

The language in use is set for a stretch of work with :func:`using` (a run's plan decides it
once, :class:`grader.grading.plan.Plan`); outside any, messages are English. Staff-facing
output (the TA's table, progress, logs, the class report, the grader's own errors) is not
marked and stays English.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import gettext
import os
from collections.abc import Mapping
from pathlib import Path

LANGUAGES = ("en", "zh_CN")
"""What a course may choose (``language`` in its configuration, ``--lang`` for one run)."""
DEFAULT = "en"
DOMAIN = "grader"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
HTML_LANG = {"en": "en", "zh_CN": "zh-CN"}
"""Each language as an HTML ``lang`` attribute (a browser picks its fonts by it)."""
LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")
"""Where a user's locale is read, the first set first (gettext's own order)."""

_current: contextvars.ContextVar[str] = contextvars.ContextVar("language", default=DEFAULT)


@functools.cache
def catalog(language: str) -> gettext.NullTranslations:
    """The compiled catalog of ``language`` (English: the messages as written)."""
    if language == DEFAULT:
        return gettext.NullTranslations()
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}: use {', '.join(LANGUAGES)}")
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
    with path.open("rb") as handle:
        return gettext.GNUTranslations(handle)


def current() -> str:
    """The language messages are written in now."""
    return _current.get()


@contextlib.contextmanager
def using(language: str | None):
    """Write messages in ``language`` (``None``: as they are now) until the block ends."""
    if language is None:
        yield
        return
    catalog(language)  # an unknown language fails here, before anything is written in it
    token = _current.set(language)
    try:
        yield
    finally:
        _current.reset(token)


def _(message: str, /, **values) -> str:
    """``message`` in the current language, its ``{name}`` placeholders filled from ``values``."""
    text = catalog(_current.get()).gettext(message)
    return text.format(**values) if values else text


def n_(singular: str, plural: str, n: int, /, **values) -> str:
    """The form of ``singular``/``plural`` for ``n`` in the current language, filled."""
    text = catalog(_current.get()).ngettext(singular, plural, n)
    return text.format(**values) if values else text


def N_(message: str) -> str:
    """Mark ``message`` for the catalog without translating it (a constant, translated where
    it is used: ``_(CONSTANT)``)."""
    return message


def language_of_locale(environ: Mapping[str, str] | None = None) -> str | None:
    """The language a user's locale asks for: ``zh_CN.UTF-8``, ``zh_TW``, ``zh`` -> ``zh_CN``
    (the one Chinese there is), ``en_GB``, ``C`` -> ``en``; ``None`` where it names neither.
    ``LANGUAGE`` may list several (``fr:zh_CN``): the first known one counts."""
    environ = os.environ if environ is None else environ
    for variable in LOCALE_VARIABLES:
        for item in environ.get(variable, "").split(":"):
            name = item.split(".")[0].split("@")[0]
            if name.startswith("zh"):
                return "zh_CN"
            if name.startswith("en") or name in ("C", "POSIX"):
                return DEFAULT
        if environ.get(variable) and variable != "LANGUAGE":
            return None
    return None
