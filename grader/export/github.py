"""GitHub Classroom: a grading repository that course staff own, not a workflow students hold.

A workflow in a student's repository runs with whatever the student commits: it could be
edited to print a token, or to read the hidden suites it checks out. So grading happens in
a private repository of the staff's (``grader export github DEST`` writes it): the kit in
``kit/``, the workflow ``.github/workflows/grade-class.yml`` (started by staff only, by hand
or on a schedule), ``classroom.py`` (:mod:`grader.export.classroom`: lists the assignment's
student repositories, fetches the exercise files of each one's newest commit without
running anything of the repository's, and optionally posts each score back as a commit
status) and ``CLASSROOM.md`` (the set-up). Student repositories need no workflow and no
secret.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from grader.export.bundle import copy_kit

CLASSROOM_SCRIPT = Path(__file__).with_name("classroom.py")
"""The fetch and post script (standard library only), copied as it is."""

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
        with:
          persist-credentials: false
      - name: Set up Python
        uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Install the sandbox and the grader
        run: |
          sudo apt-get update -qq && sudo apt-get install -y -qq bubblewrap libseccomp2
          python -m venv "$WORK/venv"
          "$WORK/venv/bin/python" -m pip install --quiet -e kit
      - name: Prepare CIFAR-10 for the accuracy gate
        run: |
          case "$GRADER_ARGS" in *--no-gate*) exit 0 ;; esac
          "$WORK/venv/bin/grader" data prepare --root "$WORK/cifar10"
      - name: Fetch the submissions (the only step that sees the read-only token)
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
          GH_TOKEN: ${{ secrets.CLASSROOM_STATUS_TOKEN }}
        run: >-
          python classroom.py post --org "${{ github.repository_owner }}"
          --dest "$WORK/submissions" --results "$WORK/results"
"""

CLASSROOM_MD = """\
# Grading a GitHub Classroom assignment

This repository is the course staff's, and private: it holds the grader kit (`kit/`, with
the hidden suites and the solutions) and the workflow that grades the class. Students'
repositories hold no grading workflow and no secret, so nothing a student commits can
reach the kit or a token.

## Set-up, once per course
1. Push this folder to a new **private** repository of the classroom's organisation.
2. Create a **fine-grained** personal access token (or a GitHub App's) whose resource owner
   is the organisation, for its repositories, with *Contents: read-only* and *Metadata:
   read-only* and nothing else. Save it in this repository as the Actions secret
   `CLASSROOM_TOKEN`. It is the one secret that reads every student's work, and the fetch
   is the only step that holds it: should it ever leak, it reads repositories and changes
   none (a classic token's `repo` scope could push to every repository of yours).
3. Only to post scores back: a second fine-grained token with *Commit statuses: read and
   write* and *Metadata: read-only*, as the secret `CLASSROOM_STATUS_TOKEN`.
4. Give the assignment's starter repository the released exercises (`kit/exercises/`,
   without `tests/` if the public tests are handed out separately) at its top level, and
   no workflow.

## Grading
After the deadline, run **Actions > Grade the class > Run workflow** with the assignment's
repository prefix (GitHub Classroom names student repositories `<prefix>-<login>`). The
workflow fetches each student repository's newest commit (`classroom.json` records the
commit and its time), grades all of them in the sandbox, writes the score table to the
run's summary, keeps every result as an artifact, and, if asked, posts each score as a
commit status (`grader`) on the student's repository.

The fetch takes from each repository only the exercise files at its top level
(`ex1_gradients.py`, or the `.ipynb`), read from git's objects: nothing of the repository
runs and nothing is checked out, so no hook, filter, Git LFS, submodule or symbolic link
of a student's does anything. An exercise file that is a symbolic link, a submodule or
larger than the grader accepts is left out, and the log and `classroom.json` say so; a
notebook kept in Git LFS arrives as its LFS pointer, so ask students not to use LFS. The
token goes in a request header to the organisation's repositories on GitHub and to
GitHub's API, nowhere else, and never onto a command line or into a clone.

Only the fetch and post steps see a token; grading runs without one, as root, so that
student code runs under bubblewrap as a user of its own. `GRADER_ARGS` in the workflow
sets the grader's options (`--no-gate` for a quick run, `--jobs`).
"""


def build(dest: Path) -> Path:
    """Write the staff grading repository into ``dest``; return its workflow."""
    copy_kit(dest / "kit")
    shutil.copyfile(CLASSROOM_SCRIPT, dest / "classroom.py")
    (dest / "CLASSROOM.md").write_text(CLASSROOM_MD)
    path = dest / ".github" / "workflows" / "grade-class.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(WORKFLOW)
    return path
