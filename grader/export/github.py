"""A GitHub Classroom workflow: install the kit, grade the student's repository, and
write the Markdown step summary (``::error`` annotations mark each failed test).

The kit holds the hidden suites, so it lives in a private repository that the workflow
checks out with a token: set the classroom organisation's variable ``GRADER_KIT_REPO``
(``owner/name``) and secret ``GRADER_KIT_TOKEN`` (read access to it).
"""

from __future__ import annotations

from pathlib import Path

WORKFLOW = """\
# Written by `grader export github`: grades this repository on every push.
name: Autograding
on:
  push:
  workflow_dispatch:
permissions:
  contents: read
jobs:
  grade:
    runs-on: ubuntu-latest
    timeout-minutes: 30
    env:
      GRADER_KIT_DIR: .grader-kit
      GRADER_ARGS: --device cpu
    steps:
      - name: Check out the submission
        uses: actions/checkout@v4
      - name: Check out the grader kit
        uses: actions/checkout@v4
        with:
          repository: ${{ vars.GRADER_KIT_REPO }}
          token: ${{ secrets.GRADER_KIT_TOKEN }}
          path: .grader-kit
      - name: Set up Python
        uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Install the grader
        run: |
          sudo apt-get install -y bubblewrap || echo "no bubblewrap: reduced isolation"
          python -m pip install -e "$GRADER_KIT_DIR"
      - name: Prepare CIFAR-10 for the accuracy gate
        run: |
          case "$GRADER_ARGS" in *--no-gate*) exit 0 ;; esac
          grader data prepare || echo "GRADER_ARGS=$GRADER_ARGS --no-gate" >> "$GITHUB_ENV"
      - name: Grade
        run: grader run . --format github --out "$RUNNER_TEMP/grader-results" $GRADER_ARGS
"""


def build(dest: Path) -> Path:
    """Write ``dest/.github/workflows/classroom.yml``."""
    path = dest / ".github" / "workflows" / "classroom.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(WORKFLOW)
    return path
