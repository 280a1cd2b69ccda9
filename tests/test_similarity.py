"""``grader similarity``: planted copies flagged, independent solutions not, stubs never."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import fixture_edits
import pytest
import similarity_corpus as corpus
from conftest import REPO, grader
from copydetect import compare_files

from grader.course.config import CourseConfigError, SimilaritySettings, load, load_similarity
from grader.errors import GraderError
from grader.kit import EXERCISES_DIR
from grader.similarity import compare, fingerprints, similarity
from grader.submissions.loading import discover

THRESHOLD = SimilaritySettings().threshold


def run_report(paths, out: Path, **kwargs) -> dict:
    """``similarity`` with every pair in the JSON (threshold 0), progress kept off stdout."""
    config = out.parent / "all-pairs.toml"
    config.write_text("[similarity]\nthreshold = 0.0\n")
    return similarity(paths, out=out, config=config, **kwargs)


def scores(data: dict) -> dict[frozenset, float]:
    return {frozenset((p["a"], p["b"])): p["score"] for p in data["pairs"]}


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """The corpus: each family's original and its planted copies, every pair scored."""
    root = tmp_path_factory.mktemp("planted")
    family_of = corpus.build_class(root / "class")
    family_of = {name.removesuffix(".zip"): family for name, family in family_of.items()}
    return family_of, run_report([root / "class"], root / "report"), root / "report"


def test_every_planted_copy_ranks_above_every_independent_pair(planted):
    """Are copies (exact, renamed, reordered, recommented, as a notebook, zipped) at or
    above the default threshold, independent solutions below it, with a margin?"""
    family_of, data, _ = planted
    copies, independent = [], []
    for pair, score in scores(data).items():
        a, b = sorted(pair)
        (copies if family_of[a] == family_of[b] else independent).append((score, a, b))
    families = len(corpus.families())
    assert len(copies) == families * 15 and len(independent) > 0
    lowest_copy, highest_independent = min(copies), max(independent)
    assert lowest_copy[0] >= THRESHOLD, lowest_copy
    assert highest_independent[0] < THRESHOLD, highest_independent
    assert lowest_copy[0] - highest_independent[0] >= 0.3, (lowest_copy, highest_independent)


def test_a_notebook_copy_matches_its_py_file_by_file(planted):
    """Is a notebook's code compared with the .py of the same exercise, every exercise?"""
    _, data, _ = planted
    (pair,) = [
        p
        for p in data["pairs"]
        if {p["a"], p["b"]} == {"reference", "copied_notebook_from_reference"}
    ]
    assert set(pair["files"]) == {"ex1", "ex2", "ex3", "ex4", "ex5"}
    assert all(f["score"] > 0.9 for f in pair["files"].values()), pair


def test_report_ranks_pairs_and_shows_regions_side_by_side(planted):
    """Does the HTML hold the histogram, the ranked table and highlighted regions?"""
    _, data, out = planted
    ranked = [p["score"] for p in data["pairs"]]
    assert ranked == sorted(ranked, reverse=True)
    page = (out / "similarity.html").read_text()
    assert "<svg" in page and 'class="side"' in page and "<mark>" in page
    assert json.loads((out / "similarity.json").read_text()) == data


ONE_EXERCISE = {
    "ex1_gradients": "exact",
    "ex2_autograd": "renamed",
    "ex3_data": "reordered",
    "ex5_train": "notebook",
    "ex4_net": "exact",
}
"""One exercise copied each way into otherwise independent work; ex4's own code (the
tutorial's ``forward``) is too short to count alone."""


@pytest.fixture(scope="module")
def one_exercise(tmp_path_factory):
    """The three independent originals, and ``correct_independent_loops`` with one exercise
    of the reference's copied in, each way of :data:`ONE_EXERCISE`; the default settings."""
    root = tmp_path_factory.mktemp("one_exercise")
    sources = {f: corpus.original(f, root / "class" / f) for f in corpus.families()}
    for module, how in ONE_EXERCISE.items():
        corpus.one_exercise_copied(
            sources["correct_independent_loops"],
            sources["reference"],
            module,
            how,
            root / "class" / f"{module[:3]}_{how}",
        )
    stderr = io.StringIO()
    data = similarity([root / "class"], out=root / "report", stderr=stderr)
    return data, root / "report", stderr.getvalue()


def test_one_copied_exercise_is_reported_with_that_exercise(one_exercise):
    """Is each one-exercise copy (exact, renamed, reordered, as a notebook) reported with the
    exercise it copied, though its score over every exercise is below the threshold; and no
    pair of independent work, nor a copy of ex4's few lines, reported at all?"""
    data, _, _ = one_exercise
    pairs = {frozenset((p["a"], p["b"])): p for p in data["pairs"]}
    for module, how in ONE_EXERCISE.items():
        name = f"{module[:3]}_{how}"
        pair = pairs.get(frozenset((name, "reference")))
        if module == "ex4_net":
            assert pair is None
            continue
        assert pair is not None, name
        assert pair["exercises"] == [module[:3]] and pair["score"] < THRESHOLD, pair
        assert pair["files"][module[:3]]["score"] >= data["exercise_threshold"]
    originals = corpus.families()
    for a in originals:
        for b in originals:
            assert frozenset((a, b)) not in pairs
    compact = [p for p in data["pairs"] if "correct_independent_compact" in (p["a"], p["b"])]
    assert compact == []


def test_copied_exercises_are_in_the_html_and_on_stderr(one_exercise):
    """Does the HTML list those pairs in a table of their own, with the copied exercise's
    files side by side, and the table on stderr name the exercises?"""
    data, out, stderr = one_exercise
    page = (out / "similarity.html").read_text()
    assert "Pairs with one exercise copied" in page
    assert 'href="#copied-1"' in page and 'id="copied-1"' in page
    assert "<strong>ex1 " in page
    one = [p for p in data["pairs"] if p["score"] < data["threshold"]]
    assert f"{len(one)} more with one exercise's files at or above 80%" in stderr
    assert "ex1_exact  " in stderr and "reference (ex1)" in stderr


def test_copied_exercises_need_enough_code_on_both_sides():
    """Does one exercise count alone only at or above its threshold and with enough code on
    both sides?"""
    settings = SimilaritySettings()
    match = compare.FileMatch("ex1", 0.9, 0.9, 0.9, 400, 400, None, None)
    pair = compare.Pair("a", "b", 0.3, {"ex1": match})
    assert compare.copied_exercises(pair, settings) == ["ex1"]
    match.tokens_b = settings.exercise_min_tokens - 1
    assert compare.copied_exercises(pair, settings) == []
    match.tokens_b, match.score = 400, settings.exercise_threshold - 0.01
    assert compare.copied_exercises(pair, settings) == []
    assert compare.reported([pair], settings) == []


def test_file_fractions_are_copydetects_own(tmp_path):
    """Are the fractions counted in bulk those of copydetect's compare_files, and are its
    regions mapped back onto the lines of each file's text?"""
    source = corpus.original("correct_independent_loops", tmp_path / "class" / "loops")
    corpus.copy_of(source, "reordered", tmp_path / "class" / "reordered")
    fixture_edits.stage(None, tmp_path / "class" / "reference")
    settings = SimilaritySettings()
    stubs = fingerprints.boilerplate(settings)
    found = [fingerprints.entry(s, settings, stubs) for s in discover([tmp_path / "class"])]
    for a, b in ((found[0], found[1]), (found[0], found[2]), (found[1], found[2])):
        pair = compare.add_regions(compare.compare(a, b), a, b)
        assert pair.files
        for key, match in pair.files.items():
            _, fractions, _ = compare_files(
                a.documents[key].fingerprint, b.documents[key].fingerprint
            )
            assert (match.fraction_a, match.fraction_b) == pytest.approx(fractions, abs=1e-12)
            for doc, regions in (
                (a.documents[key], match.slices_a),
                (b.documents[key], match.slices_b),
            ):
                assert regions.shape[1] > 0 and regions.max() <= len(doc.text)
                assert any(doc.text[s:e].strip() for s, e in regions.T)


def test_one_process_and_several_agree(planted, tmp_path):
    """Does the class score the same compared in this process and on two forked ones?"""
    _, data, out = planted
    again = run_report([out.parent / "class"], tmp_path / "report", jobs=1)
    assert again["pairs"] == data["pairs"]


def test_stubs_alone_match_nothing(tmp_path):
    """Do two untouched stubs, or a stub and a solution, share no match at all?"""
    for name in ("stub_a", "stub_b"):
        shutil.copytree(EXERCISES_DIR, tmp_path / "class" / name, ignore=_only_exercises)
    fixture_edits.stage(None, tmp_path / "class" / "reference")
    data = run_report([tmp_path / "class"], tmp_path / "report")
    assert {p["score"] for p in data["pairs"]} == {0.0}
    assert all(p["files"] == {} for p in data["pairs"])


def _only_exercises(folder, names):
    return [n for n in names if not n.startswith("ex") or not n.endswith(".py")]


def test_submission_text_is_escaped_in_the_html(tmp_path):
    """Is code that holds HTML (a closing tag, a script) shown as text, never as markup?"""
    hostile = '\n    note = "</pre><script>alert(1)</script><b>"  # <img src=x onerror=alert(2)>\n'
    for name in ("mallory", "trudy"):
        folder = fixture_edits.stage(None, tmp_path / "class" / name)
        path = folder / "ex1_gradients.py"
        path.write_text(
            path.read_text().replace(
                "\n    a, b, c, d = coeffs\n", hostile + "    a, b, c, d = coeffs\n"
            )
        )
    run_report([tmp_path / "class"], tmp_path / "report")
    page = (tmp_path / "report" / "similarity.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page and "<img" not in page and "<b>" not in page


def test_bad_input_is_a_line_and_the_class_is_still_compared(tmp_path):
    """Do an empty folder, an empty file, a binary file, a 10 MB file, a notebook that is not
    JSON and a broken zip each get a clear line, while the rest is compared?"""
    root = tmp_path / "class"
    fixture_edits.stage(None, root / "alice")
    fixture_edits.stage(None, root / "bob")
    for name in ("broken_empty_file", "broken_binary_file", "broken_notebook_invalid_json"):
        fixture_edits.stage(name, root / name)
    (root / "empty_folder").mkdir()
    huge = fixture_edits.stage(None, root / "huge_file")
    (huge / "ex2_autograd.py").write_text("x = 1\n" * (10 * 2**20 // 6))
    (root / "not_a_zip.zip").write_bytes(b"PK\x03\x04 this is not a zip")
    data = run_report([root], tmp_path / "report")
    lines = "\n".join(data["not_compared"])
    assert "empty_folder: not compared: it holds no exercise files" in lines
    assert "huge_file: not compared: ex2_autograd.py is larger than 1 MiB" in lines
    assert "not_a_zip: not compared: not_a_zip.zip is not a valid zip file" in lines
    assert "broken_binary_file: ex2_autograd.py not compared: it holds NUL bytes" in lines
    assert "broken_empty_file: ex1_gradients.py not compared: it is empty" in lines
    assert "ex3_data.ipynb not compared: it is not a valid Jupyter notebook" in lines
    assert scores(data)[frozenset(("alice", "bob"))] == 1.0
    assert data["submissions"][-3:] == ["empty_folder", "huge_file", "not_a_zip"]
    assert not any("empty_folder" in pair for pair in scores(data)), "nothing to compare"
    # the other files of a submission with one bad file are still compared
    assert scores(data)[frozenset(("alice", "broken_binary_file"))] == 1.0
    page = (tmp_path / "report" / "similarity.html").read_text()
    assert "it holds no exercise files" in page


def test_reference_folders_are_compared_with_the_class_not_each_other(tmp_path):
    """Is a class member that matches an earlier term flagged, and two reference
    submissions that match each other not reported?"""
    fixture_edits.stage(None, tmp_path / "class" / "alice")
    fixture_edits.stage("correct_independent_loops", tmp_path / "class" / "bob")
    for term in ("term1", "term2", "again/term1"):
        fixture_edits.stage(None, tmp_path / term / "old")
    terms = [tmp_path / "term1", tmp_path / "term2", tmp_path / "again" / "term1"]
    data = run_report([tmp_path / "class"], tmp_path / "report", against=terms)
    assert data["references"] == ["term1/old", "term2/old", "term1/old-2"]
    pairs = {(p["a"], p["b"]): p for p in data["pairs"]}
    assert pairs[("alice", "term1/old")]["score"] == 1.0
    assert pairs[("alice", "term1/old")]["b_is_reference"] is True
    assert not any(a.startswith("term") for a, _ in pairs)
    assert ("term1/old", "term2/old") not in pairs and ("term2/old", "term1/old") not in pairs


def test_nothing_to_compare_is_the_commands_error(tmp_path):
    """Is an empty class folder, a single submission, or a report folder that cannot be
    written a clear error (exit 2)?"""
    (tmp_path / "empty").mkdir()
    completed = grader("similarity", tmp_path / "empty", "--out", tmp_path / "r", timeout=120)
    assert completed.returncode == 2
    assert "holds no submissions" in completed.stderr
    with pytest.raises(GraderError, match="only one submission"):
        similarity([fixture_edits.stage(None, tmp_path / "alone")], out=tmp_path / "r")
    (tmp_path / "a_file").write_text("")
    with pytest.raises(GraderError, match="the report could not be written"):
        similarity([tmp_path / "alone", tmp_path / "alone"], out=tmp_path / "a_file")


def test_command_writes_the_report_and_a_table_on_stderr(tmp_path):
    """Does ``grader similarity DIR --out REPORT`` write both files, the table on stderr
    and nothing on stdout?"""
    source = fixture_edits.stage(None, tmp_path / "class" / "alice")
    corpus.copy_of(source, "renamed", tmp_path / "class" / "bob")
    corpus.copy_of(source, "exact", tmp_path / "class" / "carol", as_zip=True)
    completed = grader("similarity", tmp_path / "class", "--out", tmp_path / "r", timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == ""
    assert "3 pairs compared, 3 at or above 60%" in completed.stderr
    assert "3/3 submissions fingerprinted" in completed.stderr
    assert "3/3 pairs compared" in completed.stderr
    assert "alice" in completed.stderr and "bob" in completed.stderr
    data = json.loads((tmp_path / "r" / "similarity.json").read_text())
    assert data["submissions"] == ["alice", "bob", "carol"] and len(data["pairs"]) == 3
    assert (tmp_path / "r" / "similarity.html").is_file()


def test_run_with_similarity_needs_out():
    """Is ``grader run --similarity`` without ``--out`` refused before anything is graded?"""
    completed = grader("run", REPO / "examples" / "submissions", "--similarity", timeout=120)
    assert completed.returncode == 2
    assert "--similarity needs a class to compare and --out" in completed.stderr


def test_run_with_similarity_writes_the_report_beside_the_results(tmp_path):
    """Does ``grader run DIR --out OUT --similarity`` grade and write OUT/similarity/?"""
    source = fixture_edits.stage(None, tmp_path / "class" / "alice")
    corpus.copy_of(source, "recommented", tmp_path / "class" / "bob")
    out = tmp_path / "out"
    completed = grader(
        "run", tmp_path / "class", "--exercises", "ex4", "--no-gate", "--out", out, "--similarity"
    )
    assert completed.returncode == 0, completed.stderr
    assert (out / "alice.json").is_file() and (out / "bob.json").is_file()
    data = json.loads((out / "similarity" / "similarity.json").read_text())
    assert [(p["a"], p["b"]) for p in data["pairs"]] == [("alice", "bob")]


def test_course_configuration_sets_the_similarity_keys(tmp_path):
    """Are threshold and fingerprint parameters read from the course file, and a bad
    value an error naming its key?"""
    path = tmp_path / "grader.toml"
    path.write_text(
        "[similarity]\nthreshold = 0.8\nnoise_threshold = 30\nguarantee_threshold = 40\n"
        "exercise_threshold = 0.9\nexercise_min_tokens = 200\n"
    )
    settings = load(path).similarity
    assert load_similarity(path) == settings
    assert (settings.exercise_threshold, settings.exercise_min_tokens) == (0.9, 200)
    assert (settings.threshold, settings.noise_threshold, settings.guarantee_threshold) == (
        0.8,
        30,
        40,
    )
    for text, key in (
        ("threshold = 1.5", "similarity.threshold"),
        ("exercise_threshold = 1.5", "similarity.exercise_threshold"),
        ("exercise_min_tokens = 0.5", "similarity.exercise_min_tokens"),
        ("noise_threshold = 30\nguarantee_threshold = 20", "similarity.guarantee_threshold"),
        ("noise_threshold = 2.5", "similarity.noise_threshold"),
        ("colour = 1", "similarity.colour"),
    ):
        path.write_text(f"[similarity]\n{text}\n")
        with pytest.raises(CourseConfigError, match=key):
            load(path)
        with pytest.raises(CourseConfigError, match=key):
            load_similarity(path)


def test_a_notebook_of_more_code_than_a_py_may_hold_is_not_compared():
    """Is a notebook within its 20 MiB but with more code than a .py may hold (1 MiB) a line
    of the report, not minutes of fingerprinting and of every pair's comparison?"""
    cell = {"cell_type": "code", "metadata": {}, "outputs": [], "source": "x = 1\n" * 200_000}
    notebook = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    with pytest.raises(ValueError, match="more than 1 MiB of code"):
        fingerprints.exercise_text("ex1_gradients.ipynb", json.dumps(notebook).encode())


def test_matching_regions_cost_the_lines_they_cover_not_every_line():
    """Are 20,000 regions of a 40,000-line file placed in its text at once (it took every
    region times every line), and where a plain scan of every line places them?"""
    import time

    import numpy as np

    lines = np.array([(2 * i, 3 * i, 2) for i in range(40_000)])
    slices = np.array([[4 * i for i in range(20_000)], [4 * i + 3 for i in range(20_000)]])
    started = time.process_time()
    placed = compare.in_text(slices, lines)
    assert time.process_time() - started < 2
    small = compare.in_text(slices[:, :50], lines[:120])
    expected = [[], []]
    for start, end in slices[:, :50].T:
        for own, at, length in lines[:120]:
            lo, hi = max(start, own), min(end, own + length)
            if lo < hi:
                expected[0].append(at + lo - own)
                expected[1].append(at + hi - own)
    np.testing.assert_array_equal(small, expected)
    assert placed.shape[1] == 40_000


def test_the_filtered_lines_kept_are_bounded():
    """Is the memory of filtered lines bounded (a class of 1 MiB files of distinct lines)?"""
    assert fingerprints._filtered.cache_info().maxsize == fingerprints.FILTERED_LINES
