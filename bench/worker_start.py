"""CPU per submission without the gate: workers forked from a fork server against fresh ones.

    .venv/bin/python bench/worker_start.py [--repeat 5] [--count 6] [--before DIR] [--check]

Grades one copy of the reference solutions with ``grader run DIR --no-gate`` ``--repeat``
times in each mode, in turn: ``fork`` (the default: workers forked from a fork server),
``fresh`` (``GRADER_WORKERS=fresh``: a new Python per worker) and, with ``--before DIR``, the
grader checked out in DIR (an earlier commit, run with the same Python). Each run is in a
control group of its own, which counts the CPU time of the grader and of every worker and
process below it however they ended; it prints user and system CPU seconds and wall time,
with medians and ratios. ``--count N`` grades a class of N copies the same way, for the cost
of one more submission in a batch (the slope from one to N). ``--check`` times ``grader
check``. Must run as root on a machine with control groups (v1 or v2).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader.sandbox import cgroups  # noqa: E402


class Meter:
    """A control group that counts the CPU time of a command and everything below it."""

    def __init__(self):
        support = cgroups.detect()
        if not support.version:
            raise SystemExit(f"no control groups: {support.reason}")
        self.v2 = support.version == "v2"
        key = "unified" if self.v2 else "cpuacct"
        self.dir = support.roots[key] / f"bench-{secrets.token_hex(4)}"
        self.dir.mkdir()

    def run(self, cmd: list[str], env: dict, cwd: Path) -> dict:
        procs = str(self.dir / "cgroup.procs")
        start = time.monotonic()
        subprocess.run(
            cmd,
            cwd=cwd,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=lambda: cgroups.move([procs], os.getpid()),
        )
        wall = time.monotonic() - start
        user, system = self.usage()
        return {"user_s": user, "sys_s": system, "cpu_s": user + system, "wall_s": wall}

    def usage(self) -> tuple[float, float]:
        if self.v2:
            stat = dict(line.split() for line in (self.dir / "cpu.stat").read_text().splitlines())
            return int(stat["user_usec"]) / 1e6, int(stat["system_usec"]) / 1e6
        stat = dict(line.split() for line in (self.dir / "cpuacct.stat").read_text().splitlines())
        hz = os.sysconf("SC_CLK_TCK")
        return int(stat["user"]) / hz, int(stat["system"]) / hz

    def remove(self) -> None:
        for _ in range(50):
            try:
                self.dir.rmdir()
                return
            except OSError:
                time.sleep(0.1)


def measure(cmd: list[str], mode: str, before: Path | None) -> dict:
    meter = Meter()
    try:
        env = dict(os.environ, GRADER_WORKERS="fresh" if mode == "fresh" else "fork")
        cwd = REPO
        if mode == "before":
            env["PYTHONPATH"], cwd = str(before), before
        return {"mode": mode, **{k: round(v, 2) for k, v in meter.run(cmd, env, cwd).items()}}
    finally:
        meter.remove()


def medians(runs: list[dict]) -> dict:
    return {
        key: round(statistics.median(r[key] for r in runs), 2)
        for key in ("user_s", "sys_s", "cpu_s", "wall_s")
    }


def make_class(root: Path, count: int) -> Path:
    for i in range(count):
        folder = root / f"student{i:02d}"
        folder.mkdir(parents=True)
        for path in sorted((REPO / "solutions").glob("ex*.py")):
            shutil.copy(path, folder / path.name)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--count", type=int, default=0, help="also grade a class of N")
    parser.add_argument("--before", type=Path, help="a checkout of the grader to compare")
    parser.add_argument("--check", action="store_true", help="time grader check as well")
    args = parser.parse_args()
    modes = ["fork", "fresh"] + (["before"] if args.before else [])
    grader = [sys.executable, "-m", "grader.cli"]
    report: dict = {"load_before": os.getloadavg()[0], "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bench-start-") as scratch:
        os.chmod(scratch, 0o755)
        classes = {1: make_class(Path(scratch) / "one", 1)}
        if args.count > 1:
            classes[args.count] = make_class(Path(scratch) / "class", args.count)
        for size, folder in classes.items():
            runs = []
            for i in range(args.repeat if size == 1 else max(1, args.repeat // 2)):
                for mode in modes[i % len(modes) :] + modes[: i % len(modes)]:
                    out = Path(scratch) / f"out-{size}-{mode}-{i}"
                    cmd = [*grader, "run", str(folder), "--no-gate", "--out", str(out)]
                    runs.append(measure(cmd, mode, args.before))
                    print(json.dumps({"submissions": size, **runs[-1]}), file=sys.stderr)
            report[f"class_of_{size}"] = {
                m: medians([r for r in runs if r["mode"] == m]) for m in modes
            }
        one = report["class_of_1"]
        for mode in modes[1:]:
            ratio = one["fork"]["cpu_s"] / one[mode]["cpu_s"]
            report[f"cpu_ratio_fork_to_{mode}"] = round(ratio, 3)
        if args.count > 1:
            many = report[f"class_of_{args.count}"]
            report["cpu_per_extra_submission"] = {
                m: round((many[m]["cpu_s"] - one[m]["cpu_s"]) / (args.count - 1), 2) for m in modes
            }
        if args.check:
            folder = classes[1] / "student00"
            check = [*grader, "check", str(folder)]
            report["check"] = medians([measure(check, "fork", None) for _ in range(args.repeat)])
        report["load_after"] = os.getloadavg()[0]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
