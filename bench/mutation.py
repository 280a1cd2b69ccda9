"""Mutation testing of the hidden suites: do they catch every wrong variant of the reference?

For each exercise, cosmic-ray mutates a copy of ``solutions/<module>.py`` one small step at a
time (an operator, a constant, a comparison, a loop that never runs, ...) and, for every
mutant, grades that copy as a submission (``grader run COPY --exercises exN --no-gate``,
``bench/mutation_kill.py``): a mutant that still gets full marks survived. The answer keys
stay the unmutated reference. Survivors that are known to be equivalent to the reference
(``bench/mutation/equivalent.toml``, each with its reason) are reported apart.

    python bench/mutation.py [--exercises ex1,ex2] [--sample N --seed S] [--out FILE]

cosmic-ray (not mutmut) because it runs any command as the test of a mutant, which is what
grading through the sandbox needs; mutmut 3 drives pytest in-process. Operators that only
make float code raise a TypeError (bitwise and shift operators, ``%`` and ``//`` in place of
arithmetic) are left out as trivially killed; everything else cosmic-ray offers is kept.
Prints a report; with ``--out`` writes it as JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODULES = {
    "ex1": "ex1_gradients",
    "ex2": "ex2_autograd",
    "ex3": "ex3_data",
    "ex4": "ex4_net",
    "ex5": "ex5_train",
}
EXCLUDED = [
    r"core/ReplaceBinaryOperator_\w+_(BitAnd|BitOr|BitXor|LShift|RShift|Mod|FloorDiv)",
    r"core/ReplaceBinaryOperator_(BitAnd|BitOr|BitXor|LShift|RShift|Mod|FloorDiv)_\w+",
]
EQUIVALENT = REPO / "bench" / "mutation" / "equivalent.toml"
NOT_SAMPLED = "not in the sample"
TIMEOUT_S = 300


def config_text(module_path: Path, test_command: str) -> str:
    excluded = ", ".join(json.dumps(e) for e in EXCLUDED)
    return (
        "[cosmic-ray]\n"
        f"module-path = {json.dumps(str(module_path))}\n"
        f"timeout = {TIMEOUT_S}.0\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(test_command)}\n"
        "[cosmic-ray.distributor]\n"
        'name = "local"\n'
        "[cosmic-ray.filters.operators-filter]\n"
        f"exclude-operators = [{excluded}]\n"
    )


def tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def sample(session: Path, count: int, seed: int) -> None:
    """Keep ``count`` pending mutants, drawn with ``seed``; mark the rest skipped."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    with use_db(str(session), WorkDB.Mode.open) as db:
        pending = sorted(db.pending_work_items, key=lambda item: item.job_id)
        drawn = random.Random(seed).sample(pending, min(count, len(pending)))
        keep = {item.job_id for item in drawn}
        for item in pending:
            if item.job_id not in keep:
                db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED,
                                                      output=NOT_SAMPLED))  # fmt: skip


def equivalents() -> list[dict]:
    return tomllib.loads(EQUIVALENT.read_text()).get("mutant", []) if EQUIVALENT.exists() else []


def describe(item, source_lines: list[str]) -> dict:
    mutation = item.mutations[0]
    line = mutation.start_pos[0]
    return {
        "operator": mutation.operator_name,
        "occurrence": mutation.occurrence,
        "line": line,
        "code": source_lines[line - 1].strip(),
    }


def is_equivalent(exercise: str, mutant: dict, known: list[dict]) -> str:
    for entry in known:
        if (
            (entry["exercise"], entry["code"]) == (exercise, mutant["code"])
            and entry["operator"] in ("*", mutant["operator"])
            and entry.get("occurrence") in (None, mutant["occurrence"])
        ):
            return entry["reason"]
    return ""


def run_exercise(exercise: str, scratch: Path, args) -> dict:
    module = MODULES[exercise]
    submission = scratch / exercise / "submission"
    submission.mkdir(parents=True)
    for path in (REPO / "solutions").glob("ex*.py"):
        shutil.copyfile(path, submission / path.name)
    target = submission / f"{module}.py"
    command = f"{sys.executable} {REPO / 'bench' / 'mutation_kill.py'} {exercise} {submission}"
    config = scratch / exercise / "cosmic-ray.toml"
    config.write_text(config_text(target, command))
    session = scratch / exercise / "session.sqlite"
    start = time.monotonic()
    subprocess.run([tool("cosmic-ray"), "init", str(config), str(session)], check=True)
    subprocess.run([tool("cr-filter-operators"), str(session), str(config)], check=True)
    if args.sample:
        sample(session, args.sample, args.seed)
    subprocess.run([tool("cosmic-ray"), "exec", str(config), str(session)], check=True)
    wall = time.monotonic() - start

    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    lines = target.read_text().splitlines()
    known = equivalents()
    counts = {"killed": 0, "survived": 0, "equivalent": 0, "incompetent": 0}
    left_out = {"excluded": 0, "not_sampled": 0}
    survivors, equivalent = [], []
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item, result in db.completed_work_items:
            if result.worker_outcome == WorkerOutcome.SKIPPED:
                sampled_out = result.output == NOT_SAMPLED
                left_out["not_sampled" if sampled_out else "excluded"] += 1
                continue
            if result.test_outcome == TestOutcome.KILLED:
                counts["killed"] += 1
            elif result.test_outcome == TestOutcome.SURVIVED:
                mutant = describe(item, lines)
                mutant["diff"] = result.diff
                reason = is_equivalent(exercise, mutant, known)
                if reason:
                    counts["equivalent"] += 1
                    equivalent.append({**mutant, "reason": reason})
                else:
                    counts["survived"] += 1
                    survivors.append(mutant)
            else:
                counts["incompetent"] += 1
    tested = counts["killed"] + counts["survived"]
    return {
        "exercise": exercise,
        "mutants": sum(counts.values()),
        **counts,
        **left_out,
        "killed_share": round(counts["killed"] / tested, 4) if tested else None,
        "wall_s": round(wall, 1),
        "survivors": survivors,
        "equivalent_survivors": equivalent,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exercises", default=",".join(MODULES))
    parser.add_argument("--sample", type=int, default=0, help="mutants per exercise (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    report = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "sample": args.sample, "exercises": []}
    with tempfile.TemporaryDirectory(prefix="mutation-") as scratch:
        for exercise in args.exercises.split(","):
            result = run_exercise(exercise.strip(), Path(scratch), args)
            report["exercises"].append(result)
            print(
                f"{result['exercise']}: {result['mutants']} mutants, {result['killed']} killed, "
                f"{result['survived']} survived, {result['equivalent']} equivalent, "
                f"{result['incompetent']} incompetent, in {result['wall_s']} s "
                f"({result['excluded']} excluded by operator, {result['not_sampled']} not "
                "in the sample)",
                flush=True,
            )
            for mutant in result["survivors"]:
                print(f"  SURVIVED line {mutant['line']} {mutant['operator']}"
                      f"#{mutant['occurrence']}: {mutant['code']}")  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"written to {args.out}")


if __name__ == "__main__":
    main()
