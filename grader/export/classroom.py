#!/usr/bin/env python3
"""The course staff's side of GitHub Classroom: fetch the submissions, post the scores.

    python classroom.py fetch --org ORG --prefix PREFIX --dest DIR   # every <PREFIX>-<login>
    python classroom.py post  --org ORG --dest DIR --results RESULTS  # a commit status each

``grader export github`` copies this file into the staff's grading repository; it needs the
standard library and git only. ``fetch`` writes each student's exercise files (and the
other top-level ``.py`` files, the helper modules the grader stages with them) into
``DIR/<login>`` beside the clone's ``.git`` and records repository, commit and commit time
(and any such file it left out, with why) in ``DIR/classroom.json``.

Nothing in a student's repository runs, and the token (``GH_TOKEN``) goes to the git host
and the API only. Git runs without system or global configuration, hooks, filters (Git LFS
included) or submodules, with only the git host's protocol allowed and no redirects; the
clone is never checked out: the exercise files at the repository's top level are read from
git's objects as regular files of bounded size (no symbolic link, submodule or other path),
so no ``.gitattributes`` or ``.lfsconfig`` is ever read. The token travels in a request
header set for ``GIT_URL/ORG/`` only, through git's environment, never on a command line,
in a URL or in the clone's configuration, and to the API in a header no redirect carries.
``--api-url`` (default ``$GITHUB_API_URL``) and ``--git-url`` (default
``$GITHUB_SERVER_URL``) name other hosts, ``--repos FILE`` lists the repositories instead
of asking the API, and ``post --dry-run`` prints the statuses instead of sending them.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

EXERCISE_FILE = re.compile(r"ex[0-9]+_[A-Za-z0-9_]+\.(?:py|ipynb)", re.IGNORECASE)
"""The exercise files fetched, at the repository's top level: ``ex1_gradients.py``,
``.ipynb``, in any letter case (the grader takes ``Ex1_Gradients.py`` where unambiguous)."""
HELPER_FILE = re.compile(r"\w[\w.-]{0,99}\.py", re.IGNORECASE)
"""The other ``.py`` files fetched from the top level: helper modules (and names the grader
points at as close to an exercise file's)."""
MAX_OTHER_FILES = 25
"""The other ``.py`` files fetched from one repository at most (the grader stages 20)."""
MAX_BYTES = {".py": 1024 * 1024, ".ipynb": 20 * 1024 * 1024}
"""The grader's own limits (``grader.submissions.loading``): a larger file is not fetched."""
OWNER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
"""A GitHub login, organisation or team: what ``DIR/<login>`` may be named."""
REPOSITORY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
SCHEMES = ("https", "http", "file")
"""What ``--git-url`` may use (``http`` and ``file`` for a stand-in); git allows it alone."""
GIT_TIMEOUT_S = 600
OLDEST_GIT = (2, 32)
"""The first git that reads settings from ``GIT_CONFIG_COUNT`` and obeys
``GIT_CONFIG_GLOBAL``: an older one would read the runner's configuration, not ours."""


def _git_config(scheme: str | None) -> dict[str, str]:
    """Git's settings for every command on a student's repository, and why each is there."""
    settings = {
        "core.hooksPath": os.devnull,  # no hook runs, whatever a template or config holds
        "core.fsmonitor": "false",  # no monitor program is started
        "protocol.allow": "never",  # no ext::, ssh or a submodule's or the LFS's other host
        "http.followRedirects": "false",
        "submodule.recurse": "false",
        "fetch.recurseSubmodules": "false",
        "filter.lfs.smudge": "",  # no LFS, even if a configuration were read (none is)
        "filter.lfs.process": "",
        "filter.lfs.required": "false",
        "credential.helper": "",
    }
    if scheme:  # the clone's only protocol: the git host's
        settings[f"protocol.{scheme}.allow"] = "always"
    return settings


def git_environment(
    scheme: str | None, home: str, header: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment of a git command: none of the caller's ``GIT_*`` variables or token,
    no system or global configuration, ``home`` an empty folder (and XDG's), the settings above (and
    ``header``: URL-scoped ``http.<url>.extraHeader``) given as ``GIT_CONFIG_*`` variables.
    Without ``scheme`` no protocol is allowed: the command never reaches the network (not
    even for a blob that the clone's size filter left out)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GIT_") and key not in ("GH_TOKEN", "GITHUB_TOKEN")
    }
    settings = {**_git_config(scheme), **(header or {})}
    env.update(HOME=home, XDG_CONFIG_HOME=home)  # no global attributes or ignore files
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_SYSTEM=os.devnull,
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_TERMINAL_PROMPT="0",
        GIT_LFS_SKIP_SMUDGE="1",
        GIT_NO_LAZY_FETCH="1",
        GIT_CONFIG_COUNT=str(len(settings)),
    )
    for number, (key, value) in enumerate(settings.items()):
        env[f"GIT_CONFIG_KEY_{number}"] = key
        env[f"GIT_CONFIG_VALUE_{number}"] = value
    return env


def _git(folder: Path | None, *args: str, env: dict[str, str], input: bytes = b"") -> bytes:
    """Git's output; past ``GIT_TIMEOUT_S`` git and its helpers (a stalled download) are
    killed together."""
    where = ["-C", str(folder)] if folder else []
    pipe = subprocess.PIPE
    command = ["git", *where, *args]
    with subprocess.Popen(
        command, stdin=pipe, stdout=pipe, stderr=pipe, env=env, start_new_session=True
    ) as git:
        try:
            out, err = git.communicate(input, timeout=GIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(git.pid, signal.SIGKILL)
            git.communicate()
            raise FetchError(f"git {args[0]} took over {GIT_TIMEOUT_S} s") from None
    if git.returncode != 0:
        raise FetchError(err.decode("utf-8", "replace").strip()[-300:])
    return out


class FetchError(Exception):
    """Why one repository was not fetched (the class goes on)."""


def _api(url: str, token: str, data=None):
    request = urllib.request.Request(url, data=None if data is None else json.dumps(data).encode())
    request.add_header("Accept", "application/vnd.github+json")
    if token:
        request.add_unredirected_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


def _repositories(args, token: str) -> list[str]:
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


def _object(folder: Path, oid: str, env: dict[str, str]) -> tuple[str, int]:
    """An object's type and size; ``("missing", 0)`` for one the clone's size filter left
    out (never fetched now: the environment allows no protocol)."""
    try:
        line = _git(folder, "cat-file", "--batch-check=%(objecttype) %(objectsize)", env=env,
                    input=oid.encode() + b"\n")  # fmt: skip
    except FetchError:
        return ("missing", 0)
    kind, _, size = line.decode().strip().partition(" ")
    return (kind, int(size)) if size.isdigit() else ("missing", 0)


def exercise_files(folder: Path, env: dict[str, str]) -> tuple[dict[str, bytes], dict[str, str]]:
    """The exercise files and helper modules of the clone's last commit, read from git's
    objects (never through a filter): name -> bytes, and name -> why it was left out."""
    found, skipped = {}, {}
    listing = _git(folder, "ls-tree", "-z", "--full-tree", "HEAD", env=env)
    for entry in listing.split(b"\0"):
        info, _, raw_name = entry.partition(b"\t")
        name = raw_name.decode("utf-8", "replace")
        if not (EXERCISE_FILE.fullmatch(name) or HELPER_FILE.fullmatch(name)):
            continue
        others = [n for n in found if not EXERCISE_FILE.fullmatch(n)]
        if not EXERCISE_FILE.fullmatch(name) and len(others) == MAX_OTHER_FILES:
            skipped[name] = f"more than {MAX_OTHER_FILES} .py files besides the exercise files"
            continue
        mode, _, oid = info.decode().split()
        kind, size = _object(folder, oid, env)
        limit = MAX_BYTES[Path(name).suffix.lower()]
        if name in found or name in skipped:
            skipped[name] = "the commit holds it twice"
            found.pop(name, None)
        elif mode == "120000":
            skipped[name] = "a symbolic link, not a file"
        elif mode == "160000" or not mode.startswith("100") or kind not in ("blob", "missing"):
            skipped[name] = "a submodule or folder, not a file"
        elif kind == "missing" or size > limit:
            skipped[name] = f"larger than {limit // 2**20} MiB"
        else:
            found[name] = _git(folder, "cat-file", "blob", oid, env=env)
    return found, skipped


def _write_new(path: Path, data: bytes) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    with os.fdopen(os.open(path, flags, 0o644), "wb") as handle:
        handle.write(data)


def fetch_one(url: str, folder: Path, clone_env: dict[str, str], env: dict[str, str]) -> dict:
    """Clone ``url`` into ``folder`` without checking it out, then write its exercise files
    there; return the record of ``classroom.json``."""
    filter_size = max(MAX_BYTES.values()) + 1
    clone = ["clone", "--quiet", "--no-checkout", "--depth", "1", "--no-tags", "--template="]
    clone += [f"--filter=blob:limit={filter_size}", "--", url, str(folder)]
    if os.path.lexists(folder):
        raise FetchError(f"{folder} exists already")
    try:
        _git(None, *clone, env=clone_env)
        sha, when = _git(folder, "log", "-1", "--format=%H %cI", env=env).decode().split()
        files, skipped = exercise_files(folder, env)
        for name, data in files.items():
            _write_new(folder / name, data)
    except (FetchError, ValueError, OSError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise FetchError(str(exc) or type(exc).__name__) from None
    record = {"commit": sha, "committed": when, "files": sorted(files)}
    if skipped:
        record["skipped"] = skipped
    return record


def token_header(git_url: str, org: str, token: str) -> dict[str, str]:
    """The token as a request header that git sends to ``GIT_URL/ORG/...`` and nowhere else."""
    if not token or urllib.parse.urlsplit(git_url).scheme == "file":
        return {}
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {f"http.{git_url}/{org}/.extraHeader": f"Authorization: Basic {basic}"}


def git_version(env: dict[str, str]) -> tuple[int, ...]:
    words = _git(None, "version", env=env).decode().split()
    return tuple(int(n) for n in re.findall(r"\d+", words[2] if len(words) > 2 else "")[:2])


def fetch(args) -> int:
    token = os.environ.get("GH_TOKEN", "")
    scheme = urllib.parse.urlsplit(args.git_url).scheme
    dest = Path(args.dest)
    dest.mkdir(parents=True, exist_ok=True)
    records = {}
    with tempfile.TemporaryDirectory(prefix="classroom-home-") as home:
        env = git_environment(None, home)
        if git_version(env) < OLDEST_GIT:
            print(f"fetch needs git {'.'.join(map(str, OLDEST_GIT))} or later", file=sys.stderr)
            return 1
        clone_env = git_environment(scheme, home, token_header(args.git_url, args.org, token))
        for repo in _repositories(args, token):
            login = repo[len(args.prefix) + 1 :]
            if not (REPOSITORY.fullmatch(repo) and OWNER.fullmatch(login)):
                print(f"{repo!r}: not fetched: not a <prefix>-<login> name", file=sys.stderr)
                continue
            folder = dest / login
            try:
                record = fetch_one(f"{args.git_url}/{args.org}/{repo}.git", folder, clone_env, env)
            except FetchError as exc:
                print(f"{repo}: not fetched: {exc}", file=sys.stderr)
                continue
            records[login] = {"repository": repo, **record}
            left_out = "; ".join(f"{k}: {v}" for k, v in record.get("skipped", {}).items())
            note = f", left out: {left_out}" if left_out else ""
            print(f"{repo}: {record['commit'][:12]} ({record['committed']}){note}", file=sys.stderr)
    (dest / "classroom.json").write_text(json.dumps(records, indent=2) + "\n")
    print(f"{len(records)} submission(s) in {dest}", file=sys.stderr)
    return 0 if records else 1


def post(args) -> int:
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
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("fetch", "post"):
        command = commands.add_parser(name)
        command.add_argument("--org", required=True)
        command.add_argument("--dest", required=True)
        command.add_argument(
            "--api-url", default=os.environ.get("GITHUB_API_URL", "https://api.github.com")
        )
    fetching = commands.choices["fetch"]
    fetching.add_argument("--prefix", required=True)
    fetching.add_argument("--repos", help="a file of repository names (instead of the API)")
    fetching.add_argument(
        "--git-url", default=os.environ.get("GITHUB_SERVER_URL", "https://github.com")
    )
    commands.choices["post"].add_argument("--results", required=True)
    commands.choices["post"].add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    if not OWNER.fullmatch(args.org):
        parser.error(f"--org {args.org!r}: not a GitHub organisation name")
    if args.command == "fetch":
        args.git_url = args.git_url.rstrip("/")
        if urllib.parse.urlsplit(args.git_url).scheme not in SCHEMES:
            parser.error(f"--git-url {args.git_url!r}: use {', '.join(SCHEMES)}")
        if not REPOSITORY.fullmatch(args.prefix):
            parser.error(f"--prefix {args.prefix!r}: not a repository name prefix")
    try:
        return {"fetch": fetch, "post": post}[args.command](args)
    except urllib.error.URLError as exc:
        print(f"cannot list the repositories or post a status: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
