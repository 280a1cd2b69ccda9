"""GitHub Classroom: a grading repository that course staff own, not a workflow students hold.

A workflow in a student's repository runs with whatever the student commits: it could be
edited to print a token, or to read the hidden suites it checks out. So grading happens in
a private repository of the staff's (``grader export github DEST`` writes it): the kit in
``kit/``, the workflow ``.github/workflows/grade-class.yml`` (started by staff only, by hand
or on a schedule), ``classroom.py`` (lists the assignment's student repositories, clones each
at its newest commit, and optionally posts each score back as a commit status) and
``CLASSROOM.md`` (the set-up). Student repositories need no workflow and no secret.
"""

from __future__ import annotations

from pathlib import Path

from grader.export.bundle import copy_kit

WORKFLOW = """\
# Written by `grader export github`: grades every student repository of an assignment.
# Runs in this staff-owned repository only; students' repositories hold no grading workflow.
name: Grade the class
on:
  workflow_dispatch:
    inputs:
      assignment:
        description: "The assignment's repository prefix (GitHub Classroom: <prefix>-<login>)"
        required: true
      post:
        description: "Post each score back as a commit status on the student's repository"
        type: boolean
        default: false
permissions:
  contents: read
jobs:
  grade:
    runs-on: ubuntu-latest
    timeout-minutes: 360
    env:
      GRADER_ARGS: --device cpu --jobs 2
      WORK: ${{ runner.temp }}/grading
    steps:
      - name: Check out this repository (the kit is in kit/)
        uses: actions/checkout@v4
      - name: Set up Python
        uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Install the sandbox and the grader
        run: |
          sudo apt-get update -qq && sudo apt-get install -y -qq bubblewrap
          python -m venv "$WORK/venv"
          "$WORK/venv/bin/python" -m pip install --quiet -e kit
      - name: Prepare CIFAR-10 for the accuracy gate
        run: |
          case "$GRADER_ARGS" in *--no-gate*) exit 0 ;; esac
          "$WORK/venv/bin/grader" data prepare --root "$WORK/cifar10"
      - name: Fetch the submissions (the only step that sees the token)
        env:
          GH_TOKEN: ${{ secrets.CLASSROOM_TOKEN }}
        run: >-
          python classroom.py fetch --org "${{ github.repository_owner }}"
          --prefix "${{ inputs.assignment }}" --dest "$WORK/submissions"
      - name: Grade (as root, so that student code runs as users of its own)
        run: >-
          sudo GITHUB_STEP_SUMMARY="$GITHUB_STEP_SUMMARY" "$WORK/venv/bin/grader" run
          "$WORK/submissions" --out "$WORK/results" --data-root "$WORK/cifar10"
          --format github $GRADER_ARGS
      - name: Keep the results
        uses: actions/upload-artifact@v4
        with:
          name: results-${{ inputs.assignment }}
          path: ${{ runner.temp }}/grading/results
      - name: Post the scores as commit statuses
        if: ${{ inputs.post }}
        env:
          GH_TOKEN: ${{ secrets.CLASSROOM_TOKEN }}
        run: >-
          python classroom.py post --org "${{ github.repository_owner }}"
          --dest "$WORK/submissions" --results "$WORK/results"
"""

CLASSROOM_PY = '''\
#!/usr/bin/env python3
"""The course staff's side of GitHub Classroom (standard library only).

    classroom.py fetch --org ORG --prefix PREFIX --dest DIR   # clone every <PREFIX>-<login>
    classroom.py post  --org ORG --dest DIR --results RESULTS  # a commit status per student

``fetch`` clones each student repository at its newest commit into ``DIR/<login>`` and
records repository, commit and commit time in ``DIR/classroom.json``. The token
(``GH_TOKEN``) travels in a request header, never in a URL or a clone's configuration.
``--api-url`` (default ``$GITHUB_API_URL``), ``--clone-url`` (a template with ``{org}`` and
``{repo}``) and ``--repos`` (a file of repository names, instead of asking the API) point it
elsewhere; ``post --dry-run`` prints the statuses instead of sending them.
"""

import argparse
import base64
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path


def _api(url, token, data=None):
    request = urllib.request.Request(url, data=None if data is None else json.dumps(data).encode())
    request.add_header("Accept", "application/vnd.github+json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


def _repositories(args, token):
    if args.repos:
        names = Path(args.repos).read_text().split()
    else:
        names, page = [], 1
        while True:
            url = f"{args.api_url}/orgs/{args.org}/repos?per_page=100&page={page}"
            batch = _api(url, token)
            names += [r["name"] for r in batch]
            if len(batch) < 100:
                break
            page += 1
    return sorted(n for n in names if n.startswith(args.prefix + "-"))


def fetch(args):
    token = os.environ.get("GH_TOKEN", "")
    dest = Path(args.dest)
    dest.mkdir(parents=True, exist_ok=True)
    header = []
    if token:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        header = ["-c", f"http.extraHeader=Authorization: Basic {basic}"]
    records = {}
    for repo in _repositories(args, token):
        login = repo[len(args.prefix) + 1 :]
        folder = dest / login
        url = args.clone_url.format(org=args.org, repo=repo)
        done = subprocess.run(
            ["git", *header, "clone", "--quiet", "--depth", "1", url, str(folder)],
            capture_output=True, text=True,
        )
        if done.returncode != 0:
            print(f"{repo}: not fetched: {done.stderr.strip()[:300]}", file=sys.stderr)
            continue
        sha, when = subprocess.run(
            ["git", "-C", str(folder), "log", "-1", "--format=%H %cI"],
            capture_output=True, text=True, check=True,
        ).stdout.split()
        records[login] = {"repository": repo, "commit": sha, "committed": when}
        print(f"{repo}: {sha[:12]} ({when})", file=sys.stderr)
    (dest / "classroom.json").write_text(json.dumps(records, indent=2) + "\\n")
    print(f"{len(records)} submission(s) in {dest}", file=sys.stderr)


def post(args):
    token = os.environ.get("GH_TOKEN", "")
    records = json.loads((Path(args.dest) / "classroom.json").read_text())
    for login, record in sorted(records.items()):
        path = Path(args.results) / f"{login}.json"
        if not path.is_file():
            print(f"{login}: no result", file=sys.stderr)
            continue
        result = json.loads(path.read_text())
        status = {
            "state": "success",
            "context": "grader",
            "description": f"score {result['score']:g}/{result['max_score']:g}",
        }
        url = f"{args.api_url}/repos/{args.org}/{record['repository']}/statuses/{record['commit']}"
        if args.dry_run:
            print(json.dumps({"url": url, **status}))
        else:
            _api(url, token, status)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("fetch", "post"):
        command = commands.add_parser(name)
        command.add_argument("--org", required=True)
        command.add_argument("--dest", required=True)
        command.add_argument(
            "--api-url", default=os.environ.get("GITHUB_API_URL", "https://api.github.com")
        )
    commands.choices["fetch"].add_argument("--prefix", required=True)
    commands.choices["fetch"].add_argument("--repos")
    commands.choices["fetch"].add_argument(
        "--clone-url", default="https://github.com/{org}/{repo}.git"
    )
    commands.choices["post"].add_argument("--results", required=True)
    commands.choices["post"].add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    {"fetch": fetch, "post": post}[args.command](args)


if __name__ == "__main__":
    main()
'''

CLASSROOM_MD = """\
# Grading a GitHub Classroom assignment

This repository is the course staff's, and private: it holds the grader kit (`kit/`, with
the hidden suites and the solutions) and the workflow that grades the class. Students'
repositories hold no grading workflow and no secret, so nothing a student commits can
reach the kit or a token.

## Set-up, once per course
1. Push this folder to a new **private** repository of the classroom's organisation.
2. Create a fine-grained personal access token (or a GitHub App token) with access to the
   organisation's repositories: *Contents: read* to fetch submissions, and *Commit
   statuses: read and write* only if scores are posted back. Save it in this repository
   as the Actions secret `CLASSROOM_TOKEN`.
3. Give the assignment's starter repository the released exercises (`kit/exercises/`,
   without `tests/` if the public tests are handed out separately), and no workflow.

## Grading
After the deadline, run **Actions > Grade the class > Run workflow** with the assignment's
repository prefix (GitHub Classroom names student repositories `<prefix>-<login>`). The
workflow clones each student repository at its newest commit (`classroom.json` records the
commit and its time), grades all of them in the sandbox, writes the score table to the
run's summary, keeps every result as an artifact, and, if asked, posts each score as a
commit status (`grader`) on the student's repository.

Only the fetch and post steps see the token; grading runs without it, as root, so that
student code runs under bubblewrap as a user of its own. `GRADER_ARGS` in the workflow
sets the grader's options (`--no-gate` for a quick run, `--jobs`).
"""


def build(dest: Path) -> Path:
    """Write the staff grading repository into ``dest``; return its workflow."""
    copy_kit(dest / "kit")
    (dest / "classroom.py").write_text(CLASSROOM_PY)
    (dest / "CLASSROOM.md").write_text(CLASSROOM_MD)
    path = dest / ".github" / "workflows" / "grade-class.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(WORKFLOW)
    return path
