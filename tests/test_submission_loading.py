"""Reading submissions: bad zips, odd names and duplicate ids give a clear answer, never a crash.

These call :mod:`grader.submissions.loading` directly (no grading); ``tests/test_broken.py``
shows the same cases end to end through ``grader run``.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import pytest
from conftest import REPO, write_zip

from grader.submissions.loading import (
    MAX_SOURCE_BYTES,
    SubmissionError,
    discover,
    load,
    missing_file_message,
    stage,
)
from grader.submissions.notebooks import notebook_to_source, script_source

EX1 = (REPO / "solutions" / "ex1_gradients.py").read_bytes()


def only(tmp_path: Path):
    (submission,) = discover([tmp_path])
    return submission


@pytest.mark.parametrize(
    "member, word",
    [("../ex1_gradients.py", "unsafe path"), ("/tmp/ex1_gradients.py", "unsafe path"),
     ("..\\..\\ex1_gradients.py", "unsafe path"), ("C:/ex1_gradients.py", "unsafe path")],
)  # fmt: skip
def test_zip_with_escaping_paths_is_refused(tmp_path, member, word):
    """Is a zip with a ``..`` or absolute member path one clear error, with nothing extracted?"""
    write_zip(tmp_path / "mallory.zip", {member: EX1})
    submission = only(tmp_path)
    assert submission.id == "mallory" and word in submission.error and not submission.files
    assert not (tmp_path.parent / "ex1_gradients.py").exists()


def test_zip_with_symlinked_exercise_is_refused(tmp_path):
    """Is an exercise file that is a symlink in the zip (to /etc/passwd, say) an error?"""
    write_zip(tmp_path / "sym.zip", {}, symlinks=[("ex1_gradients.py", b"/etc/passwd")])
    assert "symbolic link" in only(tmp_path).error


def test_symlinked_exercise_in_folder_is_refused(tmp_path):
    """Is an exercise file that is a symlink in a submission folder an error, not followed?"""
    folder = tmp_path / "sym"
    folder.mkdir()
    (folder / "ex1_gradients.py").symlink_to("/etc/passwd")
    (folder / "ex2_autograd.py").write_bytes(b"x = 1\n")
    assert "symbolic link" in only(tmp_path).error


def test_compression_bomb_is_refused_without_unpacking(tmp_path):
    """Is an exercise file that unpacks past the size limit an error (read stops at the cap)?"""
    write_zip(tmp_path / "bomb.zip", {"ex1_gradients.py": b"#" * (MAX_SOURCE_BYTES + 1)})
    assert (tmp_path / "bomb.zip").stat().st_size < 100_000
    assert "compression bomb" in only(tmp_path).error


def test_zip_bomb_with_a_lying_header_is_refused(tmp_path):
    """Does a member whose header claims a small size but unpacks larger still stop at the cap?"""
    path = write_zip(tmp_path / "liar.zip", {"ex1_gradients.py": b"#" * (MAX_SOURCE_BYTES + 10)})
    data = bytearray(path.read_bytes())
    true_size = (MAX_SOURCE_BYTES + 10).to_bytes(4, "little")
    for at in range(len(data) - 4):  # the local and the central header both record it
        if data[at : at + 4] == true_size:
            data[at : at + 4] = (100).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    error = only(tmp_path).error
    assert "compression bomb" in error or "not a valid zip" in error


def test_not_a_zip_is_an_error(tmp_path):
    """Is a file named .zip that is not one a clear per-submission error?"""
    (tmp_path / "fake.zip").write_bytes(b"PK\x03\x04 not really")
    assert "not a valid zip" in only(tmp_path).error


def test_zip_of_a_folder_is_read(tmp_path):
    """Is the usual zip of a folder (``alice/ex1_gradients.py``) read, __MACOSX ignored?"""
    write_zip(
        tmp_path / "alice.zip",
        {"alice/ex1_gradients.py": EX1, "__MACOSX/alice/._ex1_gradients.py": b"\0\1"},
    )
    submission = only(tmp_path)
    assert not submission.error and submission.files == {"ex1_gradients.py": EX1}


def test_zip_with_two_different_copies_is_refused(tmp_path):
    """Does a zip with two different ex1_gradients.py at the same depth ask which one?"""
    write_zip(tmp_path / "two.zip", {"a/ex1_gradients.py": EX1, "b/ex1_gradients.py": b"x = 1\n"})
    assert "two different ex1_gradients.py" in only(tmp_path).error


def test_duplicate_ids_are_renamed_and_said(tmp_path, capsys):
    """Do ``Alice/``, ``alice/`` and ``alice.zip`` get distinct ids (case ignored), with a note?"""
    for name in ("alice", "Alice"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "ex1_gradients.py").write_bytes(EX1)
    write_zip(tmp_path / "alice.zip", {"ex1_gradients.py": EX1})
    found = discover([tmp_path])
    ids = [s.id for s in found]
    assert ids == ["Alice", "alice-2", "alice-3"]
    renamed = [s for s in found if s.notes]
    assert len(renamed) == 2 and all("graded as" in s.notes[0] for s in renamed)
    assert "graded as" in capsys.readouterr().err


def test_non_utf8_folder_name_gets_a_printable_id(tmp_path):
    """Does a folder whose name is not UTF-8 get a safe ASCII id, and still load?"""
    folder = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9"))
    folder.mkdir()
    (folder / "ex1_gradients.py").write_bytes(EX1)
    submission = only(tmp_path)
    assert submission.id == "caf_" and submission.files
    submission.id.encode("ascii")


def test_binary_source_is_staged_as_a_clear_import_error(tmp_path):
    """Is a .pyc (or any binary) handed in as ex2_autograd.py staged as an ImportError naming it?"""
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "ex2_autograd.py").write_bytes(b"\x6f\x0d\x0d\x0a\0\0\0\0binary")
    (folder / "ex3_data.py").write_bytes(b"# -*- coding: latin-1 -*-\nname = '\xe9'\n")
    staged = stage(load(folder), tmp_path / "staged")
    text = (staged / "ex2_autograd.py").read_text()
    assert text.startswith("raise ImportError(") and "NUL bytes" in text
    assert (staged / "ex3_data.py").read_bytes().startswith(b"# -*- coding: latin-1")


def test_invalid_notebook_is_staged_as_a_clear_import_error(tmp_path):
    """Is a notebook that is not valid JSON staged as an ImportError that says so?"""
    folder = tmp_path / "nb"
    folder.mkdir()
    (folder / "ex3_data.ipynb").write_text('{"cells": [')
    text = (stage(load(folder), tmp_path / "staged") / "ex3_data.py").read_text()
    assert "is not a valid Jupyter notebook" in text


def _notebook(code: str, output_bytes: int = 0) -> bytes:
    """A notebook of one code cell; ``output_bytes`` of saved output (a plot, say)."""
    output = {"output_type": "stream", "name": "stdout", "text": "x" * output_bytes}
    cell = {"cell_type": "code", "metadata": {}, "source": code, "execution_count": 1}
    notebook = {"cells": [{**cell, "outputs": [output]}], "metadata": {}, "nbformat": 4}
    return json.dumps({**notebook, "nbformat_minor": 5}).encode()


def test_pathological_files_are_each_their_own_error(tmp_path):
    """Are a 7 MB notebook in a nested folder, deeply nested notebook JSON, a damaged zip and a
    zip of 10,000 bzip2 members each handled as that student's (quickly), the rest read?"""
    import time
    import zipfile

    (tmp_path / "good").mkdir()
    (tmp_path / "good" / "ex1_gradients.py").write_bytes(EX1)
    nested = tmp_path / "big_plots" / "ps1"
    nested.mkdir(parents=True)
    (nested / "ex1_gradients.ipynb").write_bytes(_notebook(EX1.decode(), 7 * 2**20))
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "ex1_gradients.ipynb").write_bytes(b"[" * 200_000 + b"]" * 200_000)
    damaged = write_zip(tmp_path / "damaged.zip", {"ex1_gradients.py": EX1 * 20})
    data = bytearray(damaged.read_bytes())
    data[200:400] = bytes(200)  # inside the deflated data of the only member
    damaged.write_bytes(bytes(data))
    with zipfile.ZipFile(tmp_path / "many.zip", "w", zipfile.ZIP_BZIP2) as archive:
        for i in range(10_000):
            archive.writestr(f"d{i}/ex1_gradients.py", b"x = 1\n" * 50)
    started = time.monotonic()
    found = {s.id: s for s in discover([tmp_path])}
    assert time.monotonic() - started < 30
    assert not found["good"].error and not found["big_plots"].error
    assert "ex1_gradients.ipynb" in found["big_plots"].files
    assert not found["deep"].error  # a notebook that is not one fails at import, costing ex1
    source = stage(found["deep"], tmp_path / "staged").joinpath("ex1_gradients.py").read_text()
    assert "not a valid Jupyter notebook" in source and "nested too deeply" in source
    assert "damaged" in found["damaged"].error or "not a valid zip" in found["damaged"].error
    assert "10000 files named like exercise files" in found["many"].error


def test_a_class_with_pathological_files_is_graded(tmp_path):
    """Through `grader run`, does the class go on (exit 0) with each bad file its own error?"""
    from conftest import grader, json_results

    (tmp_path / "good").mkdir()
    (tmp_path / "good" / "ex1_gradients.py").write_bytes(EX1)
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "ex1_gradients.ipynb").write_bytes(b"[" * 200_000 + b"]" * 200_000)
    damaged = write_zip(tmp_path / "damaged.zip", {"ex1_gradients.py": EX1 * 20})
    data = bytearray(damaged.read_bytes())
    data[200:400] = bytes(200)
    damaged.write_bytes(bytes(data))
    completed = grader("run", tmp_path, "--exercises", "ex1", "--format", "json")
    assert completed.returncode == 0, completed.stderr
    results = {r["submission"]: r for r in json_results(completed)}
    assert results["good"]["score"] == 20
    assert results["deep"]["score"] == 0 and results["damaged"]["score"] == 0
    assert "nested too deeply" in results["deep"]["tests"][0]["feedback"]
    assert any("zip" in w for w in results["damaged"]["warnings"])


def test_a_large_exercise_file_given_alone_is_refused_unread(tmp_path):
    """Is an exercise file named on the command line read only up to its size limit?"""
    path = tmp_path / "ex1_gradients.py"
    path.write_bytes(b"#" * (MAX_SOURCE_BYTES + 1))
    with pytest.raises(SubmissionError, match="larger than 1 MiB"):
        load(path)


def test_a_zip_whose_table_of_contents_is_huge_is_refused_before_it_is_parsed(tmp_path):
    """Is a zip of 200,000 empty entries (zipfile would parse its whole table of contents:
    a second and hundreds of MB for each such zip) refused from its end record, at once?
    And one of few entries with a 5 MB table of contents (long names)?"""
    import time
    import zipfile

    with zipfile.ZipFile(tmp_path / "many.zip", "w", zipfile.ZIP_STORED) as archive:
        for i in range(200_000):
            archive.writestr(f"{i:x}", b"")
    with zipfile.ZipFile(tmp_path / "long.zip", "w", zipfile.ZIP_STORED) as archive:
        for i in range(5_000):
            archive.writestr(f"{i:04}" + "n" * 1000, b"")
    started = time.process_time()
    with pytest.raises(SubmissionError, match="over 10000 entries"):
        load(tmp_path / "many.zip")
    assert time.process_time() - started < 0.2
    with pytest.raises(SubmissionError, match="table of contents is over 4 MiB"):
        load(tmp_path / "long.zip")


# -- names as students give them: letter case, near misses, helper modules ----------------------


def folder_of(tmp_path: Path, files: dict[str, bytes], name: str = "alice") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for filename, data in files.items():
        (folder / filename).write_bytes(data)
    return folder


def test_a_name_in_other_letter_case_is_taken_and_said(tmp_path):
    """Is ``Ex1_Gradients.PY`` (as Windows shows it) graded as ex1_gradients.py, with a note?"""
    submission = load(folder_of(tmp_path, {"Ex1_Gradients.PY": EX1}))
    assert submission.files == {"ex1_gradients.py": EX1}
    assert "'Ex1_Gradients.PY' is graded as ex1_gradients.py" in submission.notes[0]
    assert (stage(submission, tmp_path / "staged") / "ex1_gradients.py").read_bytes() == EX1


def test_the_exact_name_wins_over_a_case_variant(tmp_path):
    """With ex1_gradients.py and a different EX1_gradients.py, is the exact one graded and the
    other named as not graded?"""
    submission = load(folder_of(tmp_path, {"ex1_gradients.py": EX1, "EX1_gradients.py": b"x\n"}))
    assert submission.files == {"ex1_gradients.py": EX1}
    assert "'EX1_gradients.py' not graded" in submission.notes[0]


def test_case_variants_that_differ_are_not_taken(tmp_path):
    """Two case variants of ex1 with different contents: is neither graded, and does the
    missing file's message name both (or, where ex1's notebook is graded, a note)?"""
    submission = load(folder_of(tmp_path, {"Ex1_Gradients.py": EX1, "EX1_GRADIENTS.py": b"x\n"}))
    assert submission.files == {}
    assert "'EX1_GRADIENTS.py' and 'Ex1_Gradients.py' differ" in submission.missing["ex1_gradients"]
    (tmp_path / "alice" / "ex1_gradients.ipynb").write_bytes(b"{}")
    with_notebook = load(tmp_path / "alice")
    assert list(with_notebook.files) == ["ex1_gradients.ipynb"]
    assert "'Ex1_Gradients.py' not graded: they differ" in with_notebook.notes[0]


@pytest.mark.parametrize(
    "name",
    ["ex1_gradient.py", "ex1-gradients.py", "ex1_gradients (1).py", "ex1_gradients.py.txt",
     "ex1_gradients - Copy.py", "ex1_gradients copy 2.py", "Ex1 Gradients.ipynb", "ex1.py",
     "ex1_gradeints.py", "ex1_gradients.pyc"],
)  # fmt: skip
def test_a_near_miss_is_named_in_the_missing_files_message(tmp_path, name):
    """Is a file whose name is close to ex1_gradients.py left ungraded, and named (with what to
    rename it to) in the feedback of ex1's tests?"""
    submission = load(folder_of(tmp_path, {name: EX1, "ex2_autograd.py": b"x = 1\n"}))
    assert "ex1_gradients.py" not in submission.files
    staged = stage(submission, tmp_path / "staged")
    message = missing_file_message(staged, "ex1_gradients", "ex1")
    assert message.startswith("ex1_gradients.py is not in the submission, so ex1 scores 0")
    assert f"{name!r} is in the submission" in message and "rename it to ex1_gradients." in message
    other = missing_file_message(staged, "ex3_data", "ex3")
    assert (
        other == "ex3_data.py is not in the submission, so ex3 scores 0: hand it in with "
        "exactly this file name"
    )


@pytest.mark.parametrize("name", ["notes.py", "ex10_extra.py", "README.md", "._ex1_gradients.py"])
def test_other_files_are_no_near_miss(tmp_path, name):
    """Are files not close to ex1's name (another exercise number, macOS's resource fork) left
    out of its message?"""
    submission = load(folder_of(tmp_path, {name: b"x = 1\n", "ex2_autograd.py": b"x = 1\n"}))
    assert submission.missing["ex1_gradients"] == ""


def test_a_windows_zip_with_backslashes_is_read_as_folders(tmp_path):
    """Is a zip whose member paths use backslashes (older Windows tools) read like any other,
    its helper module beside the exercise files included?"""
    write_zip(tmp_path / "win.zip", {"Alice\\Ex1_Gradients.py": EX1, "Alice\\utils.py": b"X = 1\n"})
    submission = load(tmp_path / "win.zip")
    assert submission.files == {"ex1_gradients.py": EX1}
    assert submission.helpers == {"utils.py": b"X = 1\n"}


def test_a_folder_of_near_misses_only_names_them(tmp_path):
    """Does a folder holding only near misses say, in the error, which files to rename?"""
    folder = folder_of(tmp_path, {"ex1_gradient.py": EX1, "ex2-autograd.py": EX1})
    with pytest.raises(SubmissionError, match="'ex1_gradient.py' and 'ex2-autograd.py' close"):
        discover([folder])


def test_many_case_variants_are_refused_unread(tmp_path):
    """Is a folder of 51 case variants of ex1 one error, not 51 files read?"""
    cases = itertools.product(*((c.lower(), c.upper()) for c in "ex1_gradi"))
    names = sorted({"".join(case) + "ents.py" for case in cases})[:51]
    with pytest.raises(SubmissionError, match="51 files named like exercise files"):
        load(folder_of(tmp_path, dict.fromkeys(names, b"x\n")))


def test_helper_modules_are_staged_and_the_rule_said(tmp_path):
    """Are the .py files beside the exercise files staged with them (an importable name, not
    a stdlib or installed module's, not a link), and is what was left out said with the rule?"""
    folder = folder_of(
        tmp_path,
        {"ex5_train.py": b"import utils\n", "utils.py": b"X = 1\n", "plot_tools.py": b"Y = 2\n",
         "工具.py": b"Z = 3\n", "random.py": b"", "torch.py": b"", "grader.py": b"",
         "my-utils.py": b"", "class.py": b"", "__init__.py": b"", "._utils.py": b"\0",
         "notes.txt": b""},
    )  # fmt: skip
    (folder / "secret.py").symlink_to("/etc/passwd")
    submission = load(folder)
    assert sorted(submission.helpers) == ["plot_tools.py", "utils.py", "工具.py"]
    (note,) = submission.notes
    assert "helper modules staged: plot_tools.py, utils.py, 工具.py" in note
    assert "'random.py' would hide Python's own module 'random'" in note
    assert "'torch.py' would hide the installed package 'torch'" in note
    assert "'grader.py' would hide the grader's own package" in note
    assert "'secret.py' is a symbolic link" in note
    assert "'my-utils.py' is no name Python can import" in note
    assert "'class.py' is no name Python can import" in note
    assert "The rule: every other .py file beside the exercise files" in note
    staged = stage(submission, tmp_path / "staged")
    assert sorted(p.name for p in staged.iterdir()) == [
        ".handin.json", "ex5_train.py", "plot_tools.py", "utils.py", "工具.py"
    ]  # fmt: skip


def test_helper_modules_are_bounded(tmp_path):
    """Are at most 20 helpers staged, none over 1 MiB, 2 MiB in all, the rest counted?"""
    files = {f"h{i:02}.py": b"#" * (600 * 1024) for i in range(25)}
    files["big.py"] = b"#" * (MAX_SOURCE_BYTES + 1)
    files["ex1_gradients.py"] = EX1
    submission = load(folder_of(tmp_path, files))
    assert sum(map(len, submission.helpers.values())) <= 2 * 2**20
    assert sorted(submission.helpers) == ["h00.py", "h01.py", "h02.py"]
    assert "'big.py' would pass the size limit" in submission.notes[0]
    write_zip(
        tmp_path / "flood.zip",
        {f"f/m{i:03}.py": b"" for i in range(100)} | {"f/ex1_gradients.py": EX1},
    )
    flood = load(tmp_path / "flood.zip")
    assert len(flood.helpers) == 20 and "80 more .py files past the first 20" in flood.notes[0]


def test_helpers_come_only_from_beside_the_exercise_files(tmp_path):
    """In a zip, is a .py in another folder than the exercise files left out, and a member
    that is a symbolic link never read?"""
    write_zip(
        tmp_path / "z.zip",
        {"a/ex1_gradients.py": EX1, "a/utils.py": b"", "b/other.py": b"", "sitecustomize.py": b""},
        symlinks=[("a/link.py", b"/etc/passwd")],
    )
    submission = load(tmp_path / "z.zip")
    assert sorted(submission.helpers) == ["utils.py"]
    assert "'link.py' is a symbolic link" in submission.notes[0]


def test_a_pipe_named_like_a_file_does_not_hang_the_reader(tmp_path):
    """Is a FIFO named utils.py or ex1_gradients.py passed over, not opened (it would block)?"""
    folder = folder_of(tmp_path, {"ex2_autograd.py": b"x = 1\n"})
    os.mkfifo(folder / "utils.py")
    os.mkfifo(folder / "ex1_gradients.py")
    submission = load(folder)
    assert submission.helpers == {} and "ex1_gradients.py" not in submission.files


def test_the_missing_record_is_the_graders_own(tmp_path):
    """Is a .handin.json handed in never staged, so that what a missing exercise's feedback
    says comes from the grader alone?"""
    forged = b'{"missing": {"ex2_autograd": "FORGED"}}'
    folder = folder_of(tmp_path, {"ex1_gradients.py": EX1, ".handin.json": forged})
    staged = stage(load(folder), tmp_path / "staged")
    assert "FORGED" not in missing_file_message(staged, "ex2_autograd", "ex2")
    reference = stage(load(REPO / "solutions"), tmp_path / "reference")
    assert sorted(p.name for p in reference.iterdir()) == sorted(
        p.name for p in (REPO / "solutions").glob("ex*.py")
    )


NBCONVERT = b"""#!/usr/bin/env python
# coding: utf-8

# In[1]:


import math
get_ipython().run_line_magic('matplotlib', 'inline')
get_ipython().system('pip install torch')


def f():
    get_ipython().run_line_magic('time', '')
    return 1


for name in get_ipython().getoutput('ls'):  # a shell line's output
    print(name)
files = (get_ipython()
         .getoutput('ls'))
if math.pi > 3:
    pass
elif get_ipython().getoutput('ls'):
    pass
value = f()
"""


def test_the_ipython_lines_of_an_exported_notebook_are_skipped(tmp_path):
    """Does a script from `jupyter nbconvert --to script` import, each statement that calls
    get_ipython() skipped (a block it opens never runs), line numbers unchanged, and said?"""
    source, rows = script_source(NBCONVERT)
    assert rows == [8, 9, 13, 17, 19, 23]
    assert len(source.splitlines()) == len(NBCONVERT.splitlines())
    namespace = {}
    exec(compile(source, "ex1_gradients.py", "exec"), namespace)
    assert namespace["value"] == 1 and "name" not in namespace
    submission = load(folder_of(tmp_path, {"ex1_gradients.py": NBCONVERT}))
    staged = stage(submission, tmp_path / "staged")
    assert (staged / "ex1_gradients.py").read_bytes() == source
    assert "ex1_gradients.py: lines 8, 9, 13, 17, 19, 23 skipped" in submission.notes[0]


@pytest.mark.parametrize(
    "source",
    [b"def get_ipython():\n    return None\n\nget_ipython()\n",
     b"get_ipython().system('ls')\nx = \"\"\"unterminated\n",
     b"# get_ipython() in a comment\nx = 'get_ipython()'\n"],
    ids=["defined", "no-tokens", "not-a-call"],
)  # fmt: skip
def test_ipython_lines_are_left_alone_where_they_are_no_magic(source):
    """Is a module that defines get_ipython itself, does not tokenize (its own error then
    shows), or only mentions it in a comment or string left as it is?"""
    assert script_source(source) == (source, [])


def test_an_encoding_declared_by_the_script_is_kept():
    """Is a Latin-1 script with get_ipython() lines rewritten in Latin-1, its text intact?"""
    data = "# -*- coding: latin-1 -*-\nget_ipython().system('ls')\nname = 'café'\n"
    source, rows = script_source(data.encode("latin-1"))
    assert rows == [2] and source.decode("latin-1").endswith("name = 'café'\n")


def test_a_near_miss_named_alone_and_a_windows_zip_of_a_class(tmp_path):
    """Is a single file close to an exercise's name refused with what to rename it to, and is
    ``ALICE.ZIP`` in a class folder found like ``alice.zip``?"""
    (tmp_path / "ex1_gradient.py").write_bytes(EX1)
    with pytest.raises(SubmissionError, match=r"close to ex1_gradients.py: rename it"):
        discover([tmp_path / "ex1_gradient.py"])
    (tmp_path / "ex1_gradient.py").unlink()
    write_zip(tmp_path / "ALICE.ZIP", {"Ex1_Gradients.py": EX1})
    assert only(tmp_path).files == {"ex1_gradients.py": EX1}


def _run_notebook(cells: list[str], **limits) -> dict:
    notebook = {"cells": [{"cell_type": "code", "source": c} for c in cells], "nbformat": 4}
    source = notebook_to_source(json.dumps(notebook).encode(), "nb.ipynb", **limits)
    namespace: dict = {}
    exec(compile(source, "nb.py", "exec"), namespace)
    return namespace


def test_a_notebook_cell_is_stopped_for_its_cpu_time_not_the_machines_load():
    """Is a cell that waits on the clock (as a loaded machine makes an import wait) kept
    while it stays below the wall-clock cap, and one that computes past its CPU time (a
    training loop kept from a tutorial) or waits past the cap skipped, the cells after it
    still run?"""
    import time

    kept = _run_notebook(
        ["import time\ntime.sleep(0.6)\nwaited = True", "after = 1"], cpu_s=0.3, wall_s=3
    )
    assert kept["waited"] is True and kept["__grader_skipped_cells__"] == []
    started = time.process_time()
    spun = _run_notebook(["while True:\n    pass", "after = 1"], cpu_s=0.3, wall_s=30)
    assert 0.25 < time.process_time() - started < 5
    assert [n for n, _ in spun["__grader_skipped_cells__"]] == [1] and spun["after"] == 1
    assert "CPU time" in spun["__grader_skipped_cells__"][0][1]
    slept = _run_notebook(["import time\ntime.sleep(5)", "after = 1"], cpu_s=0.3, wall_s=0.5)
    assert [n for n, _ in slept["__grader_skipped_cells__"]] == [1] and slept["after"] == 1
