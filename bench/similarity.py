"""``grader similarity``: detection on the planted corpus, and cost from 50 to 300 submissions.

    .venv/bin/python bench/similarity.py [--sizes 50,100,200,300]

Detection: the class of ``tests/similarity_corpus.py`` (the reference and the two
``correct_independent_*`` submissions, each with five planted copies: exact as a zip,
identifiers renamed, functions reordered, comments and blank lines changed, as a notebook)
plus every ``bug_*`` fixture, a copy of the reference with one mistake. A pair within a
family is a planted copy, a pair across families is independent; the separation is the
lowest copy's score less the highest independent pair's, and the false pairs are the
independent pairs the default settings report (for their score or for one exercise's files).

One exercise copied: the three originals, and each with one exercise copied from another
family in each of the five ways (``correct_independent_loops`` with the reference's,
the reference with ``correct_independent_compact``'s), the rest its own: is each pair of a
copy and its donor reported with that exercise, and no pair of independent work?

Cost: classes of each size, made from every ``bug_*`` and ``correct_*`` fixture and the
corpus, each submission also as a renamed, reordered, recommented or notebook copy in turn
until the size is reached; almost every pair is then a near copy, the slowest case (every
file pair is compared in full). ``grader similarity DIR --out REPORT`` runs on each, timed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import fixture_edits  # noqa: E402
import similarity_corpus as corpus  # noqa: E402

from grader.course.config import SimilaritySettings  # noqa: E402
from grader.kit import EXERCISES  # noqa: E402

DEFAULTS = SimilaritySettings()
COMPACT = corpus.INDEPENDENT[1]


def fixtures(prefixes: tuple[str, ...]) -> list[str]:
    return sorted(p.name for p in fixture_edits.FIXTURES.iterdir() if p.name.startswith(prefixes))


def similarity(folder: Path, out: Path, threshold: float | None = None) -> tuple[dict, float]:
    cmd = [sys.executable, "-P", "-m", "grader.cli", "similarity", str(folder), "--out", str(out)]
    if threshold is not None:
        config = out.parent / f"{out.name}.toml"
        config.write_text(f"[similarity]\nthreshold = {threshold}\n")
        cmd += ["--config", str(config)]
    start = time.monotonic()
    completed = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    elapsed = time.monotonic() - start
    if completed.returncode:
        sys.exit(f"grader similarity failed:\n{completed.stderr}")
    return json.loads((out / "similarity.json").read_text()), elapsed


def detection(root: Path) -> dict:
    family_of = corpus.build_class(root / "class")
    for name in fixtures(("bug_",)):
        fixture_edits.stage(name, root / "class" / name)
        family_of[name] = "reference"
    family_of = {name.removesuffix(".zip"): family for name, family in family_of.items()}
    data, elapsed = similarity(root / "class", root / "report", threshold=0.0)
    copies, independent = [], []
    for pair in data["pairs"]:
        same = family_of[pair["a"]] == family_of[pair["b"]]
        (copies if same else independent).append((pair["score"], pair["a"], pair["b"]))
    low, high = min(copies), max(independent)
    enough = data["exercise_min_tokens"]
    files = [
        (f["score"], key, pair["a"], pair["b"])
        for pair in data["pairs"]
        if family_of[pair["a"]] != family_of[pair["b"]]
        for key, f in pair["files"].items()
        if min(f["a_tokens"], f["b_tokens"]) >= enough
    ]
    return {
        "submissions": len(data["submissions"]),
        "copy_pairs": len(copies),
        "independent_pairs": len(independent),
        "lowest_copy": low,
        "highest_independent": high,
        "separation": round(low[0] - high[0], 4),
        "copies_ranked_first": min(c[0] for c in copies) > max(i[0] for i in independent),
        "copy_pairs_at_threshold": sum(1 for c in copies if c[0] >= DEFAULTS.threshold),
        "copy_pairs_reported": sum(
            1
            for pair in data["pairs"]
            if family_of[pair["a"]] == family_of[pair["b"]] and reported(pair, DEFAULTS)
        ),
        "false_pairs": sum(
            1
            for pair in data["pairs"]
            if family_of[pair["a"]] != family_of[pair["b"]] and reported(pair, DEFAULTS)
        ),
        "highest_independent_file": max(files),
        "wall_s": round(elapsed, 1),
    }


def reported(pair: dict, defaults) -> bool:
    """Would the default settings report ``pair`` (of a report made with threshold 0)?"""
    return pair["score"] >= defaults.threshold or bool(pair["exercises"])


def one_exercise(root: Path) -> dict:
    """Each exercise copied alone, every way, into otherwise independent work."""
    sources = {f: corpus.original(f, root / "sources" / f) for f in corpus.families()}
    family_of = {f: f for f in sources}
    planted = {}  # copy -> (donor family, exercise)
    for own, donor in (("correct_independent_loops", "reference"), ("reference", COMPACT)):
        for key, exercise in EXERCISES.items():
            for how in corpus.COPIES:
                name = f"{key}_{how}_from_{donor}_into_{own}"
                corpus.one_exercise_copied(
                    sources[own], sources[donor], exercise.module, how, root / "class" / name
                )
                family_of[name] = own
                planted[name] = (donor, key)
    for family, source in sources.items():
        shutil.copytree(source, root / "class" / family)
    data, elapsed = similarity(root / "class", root / "report", threshold=0.0)
    found, scores, false_pairs = {}, {}, []
    for pair in data["pairs"]:
        for copy, other in ((pair["a"], pair["b"]), (pair["b"], pair["a"])):
            if copy in planted and other == planted[copy][0]:
                key = planted[copy][1]
                scores[copy] = pair["files"].get(key, {}).get("score", 0.0)
                if key in pair["exercises"] and reported(pair, DEFAULTS):
                    found[copy] = pair["exercises"]
        own = {family_of[pair["a"]], family_of[pair["b"]]}
        donor_pair = any(
            c in planted and o == planted[c][0]
            for c, o in ((pair["a"], pair["b"]), (pair["b"], pair["a"]))
        )
        both_copies = pair["a"] in planted and pair["b"] in planted
        if len(own) == 2 and not donor_pair and not both_copies and reported(pair, DEFAULTS):
            false_pairs.append((pair["a"], pair["b"], pair["score"], pair["exercises"]))
    per_exercise = {
        key: f"{sum(1 for c in found if planted[c][1] == key)}/"
        f"{sum(1 for c in planted if planted[c][1] == key)}"
        for key in EXERCISES
    }
    missed = sorted(c for c in planted if c not in found)
    return {
        "copies": len(planted),
        "found": len(found),
        "found_per_exercise": per_exercise,
        "lowest_file_score_found": min(scores[c] for c in found) if found else None,
        "missed_highest_file_score": {c: round(scores.get(c, 0.0), 3) for c in missed},
        "false_pairs": false_pairs,
        "wall_s": round(elapsed, 1),
    }


def make_class(root: Path, size: int) -> Path:
    sources = root / "sources"
    names = [*fixtures(("bug_", "correct_")), "reference"]
    for name in names:
        fixture_edits.stage(None if name == "reference" else name, sources / name)
    made = 0
    for round_, how in enumerate(itertools.cycle(["exact", *list(corpus.COPIES)[1:]])):
        for name in names:
            if made == size:
                return root / "class"
            dest = root / "class" / f"s{made:03d}_{how}_{name}"
            corpus.copy_of(sources / name, how, dest, as_zip=round_ % 2 == 1)
            made += 1
    raise AssertionError("unreachable")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="50,100,200,300")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-similarity-") as scratch:
        found = detection(Path(scratch) / "detection")
        print(json.dumps({"detection": found}, indent=1), flush=True)
        copied = one_exercise(Path(scratch) / "one_exercise")
        print(json.dumps({"one_exercise": copied}, indent=1), flush=True)
        for size in map(int, args.sizes.split(",")):
            root = Path(scratch) / f"class{size}"
            data, elapsed = similarity(make_class(root, size), root / "report")
            row = {
                "submissions": size,
                "pairs": data["pairs_compared"],
                "flagged": len(data["pairs"]),
                "wall_s": round(elapsed, 1),
                "ms_per_pair": round(1000 * elapsed / max(data["pairs_compared"], 1), 2),
            }
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
