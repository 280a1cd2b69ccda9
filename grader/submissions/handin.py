"""What a hand-in's files are: which is which exercise, what is close to a missing one, helpers.

:func:`assemble` sorts the files of one folder or zip (:class:`Entry`, read only when needed):

- An exercise file is named ``ex1_gradients.py`` … ``ex5_train.py`` or the same with
  ``.ipynb``; a name that differs only in letter case (``Ex1_Gradients.py``, as Windows shows
  it) is taken for it where no other file claims the same exercise.
- A near miss is a file whose name is close to an exercise file's but is not one
  (``ex1_gradient.py``, ``ex1-gradients.py``, ``ex1_gradients (1).py``,
  ``ex1_gradients.py.txt``): it is not graded, and the feedback of the exercise it misses
  names it.
- A helper module is any other ``.py`` file beside the exercise files whose name Python can
  import (``utils.py``): it is staged with them and every exercise can import it, unless its
  name would hide a module of Python's own or of the grading environment.
"""

from __future__ import annotations

import keyword
import re
import sys
import sysconfig
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from importlib.machinery import PathFinder

from grader.errors import SubmissionError
from grader.i18n import N_, _, n_
from grader.kit import EXERCISES

MODULES = {e.module: e for e in EXERCISES.values()}
MAX_SOURCE_BYTES = 1024 * 1024
"""An exercise's code: a ``.py`` as handed in, or the code cells of a notebook."""
MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
"""A notebook as handed in (its saved outputs, images included, count here)."""
MAX_EXERCISE_ENTRIES = 50
"""Files named like an exercise file (letter case aside) in one folder or zip."""
SUFFIXES = ("py", "ipynb")
MAX_MODULE_NAME = 64
"""Characters of a helper module's name."""
MAX_HELPERS = 20
MAX_HELPER_BYTES = 2 * 1024 * 1024
"""All helper modules of one submission together."""
MAX_NAMED = 3
"""Near misses named in one message (the rest are counted)."""
MAX_REFUSALS = 8
"""Helper modules left out that one note gives the reason for (the rest are counted)."""
HELPER_RULE = N_(
    "every other .py file beside the exercise files is staged with them, and every exercise "
    "can import it: up to {files} files, {mib} MiB together, each named as a Python module "
    "(utils.py, not my-utils.py); folders are not staged"
)
"""What a submission's helper modules may be (filled with MAX_HELPERS and MAX_HELPER_BYTES)."""
_COPY_SUFFIX = re.compile(r"(?:\s*\(\d+\)|\s*-?\s*(?:copy|副本)(?:\s*\(?\d+\)?)?)$")
_SEPARATORS = re.compile(r"[\s\-.]+")
_NUMBERED = re.compile(r"ex(?:ercise)?_?0*(\d+)(?:_|$)")


def exercise_name(name: str) -> str | None:
    """The exercise file ``name`` stands for (``Ex1_Gradients.PY`` -> ``ex1_gradients.py``), or
    None. Only ASCII names count: no other letters turn into an exercise file's in lower case."""
    stem, dot, suffix = name.rpartition(".")
    if not (dot and name.isascii()):
        return None
    stem, suffix = stem.lower(), suffix.lower()
    return f"{stem}.{suffix}" if stem in MODULES and suffix in SUFFIXES else None


def shown(name: str) -> str:
    """A file name as text that can always be printed (undecodable bytes as escapes)."""
    return name.encode("utf-8", "backslashreplace").decode("utf-8")


def quoted(name: str, limit: int = 100) -> str:
    """A file name for a message: quoted, escaped, and cut to ``limit`` characters."""
    text = shown(name)
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _distance(a: str, b: str, most: int) -> int:
    """Levenshtein distance of ``a`` and ``b``, or ``most + 1`` once it is known to be larger."""
    if abs(len(a) - len(b)) > most:
        return most + 1
    previous = list(range(len(b) + 1))
    for i, char in enumerate(a, 1):
        current = [i]
        for j, other in enumerate(b, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char != other))
            )
        if min(current) > most:
            return most + 1
        previous = current
    return previous[-1]


def near_modules(name: str) -> list[str]:
    """The exercise modules ``name`` (a file name, not an exercise file's) is a near miss of:
    the same name with a copy's suffix (`` (1)``, `` - Copy``), other separators, other letter
    case or another extension, a typo or two, or a name that starts with the exercise's number."""
    if name.startswith(".") or exercise_name(name):
        return []
    stem = name.lower().split(".", 1)[0][:80].strip()
    while (trimmed := _COPY_SUFFIX.sub("", stem)) != stem:
        stem = trimmed
    stem = _SEPARATORS.sub("_", stem).strip("_")
    found = []
    numbered = _NUMBERED.match(stem)
    for module, exercise in MODULES.items():
        if _distance(stem, module, 2) <= 2 or (numbered and f"ex{numbered[1]}" == exercise.key):
            found.append(module)
    return found


def importable(name: str) -> bool:
    """Whether ``import <stem>`` finds a file named ``name``: ``.py``, its stem an identifier
    (Unicode letters too, as Python normalises them), not a keyword, not too long."""
    stem, dot, suffix = name.rpartition(".")
    return (
        dot == "." and suffix == "py" and stem.isidentifier() and not keyword.iskeyword(stem)
        and len(stem) <= MAX_MODULE_NAME and unicodedata.normalize("NFKC", stem) == stem
    )  # fmt: skip


def taken_module(module: str) -> str:
    """Why a helper module named ``module`` would hide another (``""`` where it would not):
    a module of Python's own, or a package the grading environment has installed."""
    if module in sys.stdlib_module_names or module in sys.builtin_module_names:
        return _("Python's own module {module!r}", module=module)
    if module == __name__.partition(".")[0]:
        return _("the grader's own package")
    paths = sysconfig.get_paths()
    places = sorted({paths["purelib"], paths["platlib"]})
    spec = PathFinder.find_spec(module, places)
    if spec is not None and spec.origin is not None:  # a namespace package hides nothing
        return _("the installed package {module!r}", module=module)
    return ""


def list_names(names: list[str]) -> str:
    """``'a'``, ``'a' and 'b'``, ``'a', 'b', 'c' and 2 more``."""
    shown_names = [quoted(n) for n in names[:MAX_NAMED]]
    if len(names) > MAX_NAMED:
        shown_names.append(_("{count} more", count=len(names) - MAX_NAMED))
    if len(shown_names) == 1:
        return shown_names[0]
    return _("{names} and {last}", names=_(", ").join(shown_names[:-1]), last=shown_names[-1])


def near_miss_sentence(module: str, near: list[str], ambiguous: list[str]) -> str:
    """What a student whose ``module`` is missing should do about the files close to it."""
    parts = []
    if ambiguous:
        parts.append(
            _(
                "{names} differ from {module}.py only in letter case, and from each other, so "
                "none was graded: keep only the one to be graded, named {module}.py (or "
                "{module}.ipynb)",
                names=list_names(ambiguous),
                module=module,
            )
        )
    if len(near) == 1:
        suffix = "ipynb" if near[0].endswith(".ipynb") else "py"
        parts.append(
            _(
                "{names} is in the submission, close to that name but not it, so not graded: "
                "rename it to {module}.{suffix}",
                names=list_names(near),
                module=module,
                suffix=suffix,
            )
        )
    elif near:
        parts.append(
            _(
                "{names} are in the submission, close to that name but not it, so not graded: "
                "rename the one to be graded to {module}.py (or {module}.ipynb)",
                names=list_names(near),
                module=module,
            )
        )
    return _("; ").join(parts)


def missing_message(module: str, key: str, sentence: str = "") -> str:
    """The feedback of every test of an exercise whose file is not in the submission."""
    message = _(
        "{module}.py is not in the submission, so {key} scores 0: hand it in with exactly this "
        "file name",
        module=module,
        key=key,
    )
    return _("{message}. {more}", message=message, more=sentence) if sentence else message


def file_limit(name: str) -> int:
    return MAX_NOTEBOOK_BYTES if name.endswith(".ipynb") else MAX_SOURCE_BYTES


@dataclass
class Entry:
    """A file of a hand-in (a folder's entry or a zip's member), not read yet."""

    path: str
    """Where it is in the submission, ``/``-separated (``alice/utils.py``)."""
    link: bool
    read: Callable[[int], bytes]
    """Its bytes, at most the given number (SubmissionError past it)."""

    @property
    def name(self) -> str:
        return self.path.rpartition("/")[2]

    @property
    def folder(self) -> str:
        return self.path.rpartition("/")[0]

    @property
    def depth(self) -> int:
        return self.path.count("/")


def _choose(canonical: str, group: list[Entry], where: str, notes: list[str]):
    """The entry graded as ``canonical`` and its bytes: the shallowest, its exact name before
    a case variant; None where only case variants with different contents compete."""
    for entry in group:
        if entry.link:
            raise SubmissionError(
                _(
                    "{where}: {path} is a symbolic link, not a file; hand in the file itself",
                    where=where,
                    path=shown(entry.path),
                )
            )
    depth = min(entry.depth for entry in group)
    top = [(e, e.read(file_limit(canonical))) for e in group if e.depth == depth]
    exact = [(e, data) for e, data in top if e.name == canonical]
    if exact:
        other = next((e for e, data in exact if data != exact[0][1]), None)
        if other is not None:
            raise SubmissionError(
                _(
                    "{where} holds two different {name} ({one} and {other}); keep only the one "
                    "to be graded",
                    where=where,
                    name=canonical,
                    one=shown(exact[0][0].path),
                    other=shown(other.path),
                )
            )
        taken = exact[0]
    elif len({data for _, data in top}) > 1:
        return None
    else:
        taken = top[0]
        notes.append(
            _(
                "{path} is graded as {name}: its name differs only in letter case, which "
                "Windows and macOS overlook but the grader does not; name it {name}",
                path=quoted(taken[0].path),
                name=canonical,
            )
        )
    ignored = [e.path for e, data in top if e.name != canonical and data != taken[1]]
    if ignored:
        notes.append(
            _(
                "{names} not graded: {name} is, and the names differ only in letter case; keep "
                "one file per exercise",
                names=list_names(ignored),
                name=canonical,
            )
        )
    return taken


def assemble(entries: list[Entry], where: str) -> dict:
    """The fields of a :class:`Submission` from its entries: which file is which exercise, which
    exercises miss and what is close to their names, which helper modules come along."""
    groups: dict[str, list[Entry]] = {}
    for entry in entries:
        if (canonical := exercise_name(entry.name)) is not None:
            groups.setdefault(canonical, []).append(entry)
    count = sum(len(group) for group in groups.values())
    if count > MAX_EXERCISE_ENTRIES:
        raise SubmissionError(
            _(
                "{where} holds {count} files named like exercise files; hand in one copy of each",
                where=where,
                count=count,
            )
        )
    files, chosen, notes, ambiguous = {}, {}, [], {}
    for canonical, group in sorted(groups.items()):
        taken = _choose(canonical, group, where, notes)
        if taken is None:
            ambiguous.setdefault(canonical.rpartition(".")[0], []).extend(e.path for e in group)
        else:
            chosen[canonical], files[canonical] = taken
    absent = [m for m in MODULES if f"{m}.py" not in files and f"{m}.ipynb" not in files]
    for module, paths in ambiguous.items():
        if module not in absent:
            notes.append(
                _(
                    "{names} not graded: they differ from {module}.py only in letter case, and "
                    "from each other; the exercise's other file is graded",
                    names=list_names(paths),
                    module=module,
                )
            )
    near: dict[str, list[str]] = {module: [] for module in absent}
    for entry in entries:
        if not entry.path.startswith("__MACOSX/") and not exercise_name(entry.name):
            for module in near_modules(entry.name):
                near.get(module, []).append(entry.path)
    missing = {m: near_miss_sentence(m, near[m], ambiguous.get(m, [])) for m in absent}
    helpers = _helpers(entries, {e.folder for e in chosen.values()}, set(absent), notes)
    return {"files": files, "helpers": helpers, "notes": notes, "missing": missing}


def _helpers(entries: list[Entry], folders: set[str], absent: set[str], notes: list[str]):
    """The helper modules beside the exercise files (in ``folders``): name -> bytes; what is
    left out, and why, goes into ``notes`` with the rule."""
    candidates: dict[str, list[Entry]] = {}
    for entry in entries:
        name = entry.name
        if entry.folder not in folders or not name.lower().endswith(".py"):
            continue
        if exercise_name(name) or name.startswith(("__", ".")):
            continue  # packaging files, macOS's ._ resource forks
        if absent & set(near_modules(name)):
            continue  # named in the missing exercise's feedback instead
        candidates.setdefault(name, []).append(entry)
    helpers: dict[str, bytes] = {}
    refused: list[str] = []
    budget, reads, extra = MAX_HELPER_BYTES, 0, 0
    for name, group in sorted(candidates.items()):
        depth = min(entry.depth for entry in group)
        top = [entry for entry in group if entry.depth == depth]
        if not importable(name):
            refused.append(_("{name} is no name Python can import: rename it", name=quoted(name)))
        elif len(helpers) == MAX_HELPERS or reads + len(top) > MAX_HELPERS:
            extra += 1
        elif why := taken_module(name.removesuffix(".py")):
            refused.append(_("{name} would hide {what}: rename it", name=quoted(name), what=why))
        elif any(entry.link for entry in top):
            refused.append(_("{name} is a symbolic link, not a file", name=quoted(name)))
        else:
            reads += len(top)  # a read may unpack a member's limit, whatever its header says
            try:
                copies = {entry.read(min(MAX_SOURCE_BYTES, budget)) for entry in top}
            except SubmissionError:
                refused.append(_("{name} would pass the size limit", name=quoted(name)))
                continue
            if len(copies) > 1:
                refused.append(
                    _("{name} is there twice, with different contents", name=quoted(name))
                )
                continue
            helpers[name] = copies.pop()
            budget -= len(helpers[name])
    if len(refused) > MAX_REFUSALS:
        refused[MAX_REFUSALS:] = [_("{count} more", count=len(refused) - MAX_REFUSALS)]
    if extra:
        refused.append(
            n_(
                "{count} more .py file past the first {most}",
                "{count} more .py files past the first {most}",
                extra,
                count=extra,
                most=MAX_HELPERS,
            )
        )
    if helpers or refused:
        rule = _(HELPER_RULE, files=MAX_HELPERS, mib=MAX_HELPER_BYTES // 2**20)
        said = []
        if helpers:
            said.append(_("helper modules staged: {names}.", names=", ".join(helpers)))
        if refused:
            said.append(_("Not staged: {reasons}.", reasons=_("; ").join(refused)))
        said.append(_("The rule: {rule}", rule=rule))
        notes.append(" ".join(said))
    return helpers
