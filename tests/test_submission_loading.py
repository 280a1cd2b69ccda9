"""Reading submissions: bad zips, odd names and duplicate ids give a clear answer, never a crash.

These call :mod:`grader.submission` directly (no grading); ``tests/test_broken.py`` shows the
same cases end to end through ``grader run``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import REPO, write_zip

from grader.submission import MAX_SOURCE_BYTES, SubmissionError, discover, load, stage

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
