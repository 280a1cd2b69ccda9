"""`grader export github`: a staff-owned grading repository for GitHub Classroom.

The student repositories of an "organisation" are local git repositories here; the
workflow's fetch, grade and post commands run as the runner would run them.
"""

import base64
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO, grader
from github_standin import Server

from grader.export import classroom
from grader.gradebook import times
from grader.kit import EXERCISES


def git(*args, cwd=None) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def student_repository(
    org: Path,
    name: str,
    files: dict[str, str | bytes],
    *,
    links: dict[str, str] | None = None,
    submodules: dict[str, str] | None = None,
) -> Path:
    """A bare repository ``org/<name>.git`` with one commit holding ``files``, symbolic
    ``links`` (name -> target) and ``submodules`` (path -> the URL in ``.gitmodules``)."""
    work = org.parent / "work" / name
    work.mkdir(parents=True)
    for filename, data in files.items():
        (work / filename).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            data = data.encode()
        (work / filename).write_bytes(data)
    for filename, target in (links or {}).items():
        (work / filename).symlink_to(target)
    git("init", "-q", "-b", "main", cwd=work)
    git("add", ".", cwd=work)
    for path, url in (submodules or {}).items():
        git("config", "-f", ".gitmodules", f"submodule.{path}.path", path, cwd=work)
        git("config", "-f", ".gitmodules", f"submodule.{path}.url", url, cwd=work)
        git("add", ".gitmodules", cwd=work)
        git("update-index", "--add", "--cacheinfo", f"160000,{'1' * 40},{path}", cwd=work)
    git("-c", "user.name=s", "-c", "user.email=s@example.org", "commit", "-qm", "hand-in", cwd=work)
    bare = org / f"{name}.git"
    git("clone", "-q", "--bare", str(work), str(bare))
    git("config", "uploadpack.allowFilter", "true", cwd=bare)
    return bare


def step(workflow: dict, name_start: str) -> dict:
    return next(s for s in workflow["jobs"]["grade"]["steps"] if s["name"].startswith(name_start))


def test_only_staff_start_it_and_only_fetch_and_post_see_a_token(tmp_path):
    """Is the workflow started by hand only, the read-only token in the fetch step alone, the
    statuses token in the post step alone, no token kept by the checkout, and no grading
    workflow in what students get?"""
    out = tmp_path / "staff"
    assert grader("export", "github", out).returncode == 0
    workflow = yaml.safe_load((out / ".github/workflows/grade-class.yml").read_text())
    assert set(workflow[True]) == {"workflow_dispatch"}  # YAML reads the key `on` as True
    steps = workflow["jobs"]["grade"]["steps"]
    with_token = [s["name"] for s in steps if "secrets." in json.dumps(s)]
    assert with_token == [
        "Fetch the submissions (the only step that sees the read-only token)",
        "Post the scores as commit statuses",
    ]
    assert step(workflow, "Fetch")["env"] == {"GH_TOKEN": "${{ secrets.CLASSROOM_TOKEN }}"}
    assert step(workflow, "Post")["env"] == {"GH_TOKEN": "${{ secrets.CLASSROOM_STATUS_TOKEN }}"}
    assert step(workflow, "Check out")["with"] == {"persist-credentials": False}
    assert (out / "classroom.py").read_bytes() == Path(classroom.__file__).read_bytes()
    setup = (out / "CLASSROOM.md").read_text()
    assert (
        "fine-grained" in setup and "*Contents: read-only* and *Metadata:\n   read-only*" in setup
    )
    assert "secrets." not in json.dumps(workflow["jobs"]["grade"].get("env", {}))
    assert (out / "kit" / "grader" / "suites").is_dir() and (out / "kit" / "solutions").is_dir()
    assert not list((out / "kit").rglob("exercises/.github"))


def test_fetch_grade_and_post_a_class(tmp_path):
    """Does fetch clone exactly the assignment's repositories (with their commits), does the
    workflow's grade command grade them, and does post give each student their score?"""
    out = tmp_path / "staff"
    assert grader("export", "github", out).returncode == 0
    org = tmp_path / "github" / "course"
    solution = (REPO / "solutions" / "ex1_gradients.py").read_text()
    broken = solution.replace("coeffs - lr * grads", "coeffs + lr * grads")
    student_repository(org, "hw1-alice", {"ex1_gradients.py": solution})
    student_repository(org, "hw1-bob", {"ex1_gradients.py": broken})
    student_repository(org, "hw2-alice", {"ex1_gradients.py": solution})
    (tmp_path / "repos.txt").write_text("hw1-alice\nhw1-bob\nhw2-alice\n")
    work = tmp_path / "grading"
    fetched = subprocess.run(
        [sys.executable, out / "classroom.py", "fetch", "--org", "course", "--prefix", "hw1",
         "--dest", work / "submissions", "--repos", tmp_path / "repos.txt",
         "--git-url", f"file://{org.parent}"],
        capture_output=True, text=True, env={**os.environ, "GH_TOKEN": "not-a-real-token"},
    )  # fmt: skip
    assert fetched.returncode == 0, fetched.stderr
    records = json.loads((work / "submissions" / "classroom.json").read_text())
    assert sorted(records) == ["alice", "bob"]
    assert all(len(r["commit"]) == 40 and r["committed"] for r in records.values())
    assert sorted(p.name for p in (work / "submissions" / "alice").iterdir()) == [
        ".git",
        "ex1_gradients.py",
    ]
    found = times.read_times("github", work / "submissions", ["alice", "bob"])
    assert found["alice"].at.isoformat() == records["alice"]["committed"]

    workflow = yaml.safe_load((out / ".github/workflows/grade-class.yml").read_text())
    command = step(workflow, "Grade")["run"]
    summary = tmp_path / "summary.md"
    env = {
        **os.environ,
        "WORK": str(work),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GRADER_ARGS": "--no-gate --exercises ex1",
    }
    command = command.replace(
        '"$WORK/venv/bin/grader"', shlex.join([sys.executable, "-m", "grader.cli"])
    )
    if os.geteuid() == 0:
        command = command.replace("sudo ", "", 1)
    graded = subprocess.run(
        ["bash", "-e", "-c", command.replace('--data-root "$WORK/cifar10"', "")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert graded.returncode == 0, graded.stderr
    assert "::error file=ex1_gradients.py" in graded.stdout
    assert "| alice |" in summary.read_text() and "| bob |" in summary.read_text()

    posted = subprocess.run(
        [sys.executable, out / "classroom.py", "post", "--org", "course", "--dest",
         work / "submissions", "--results", work / "results", "--dry-run",
         "--api-url", "https://api.example.org"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert posted.returncode == 0, posted.stderr
    statuses = {json.loads(line)["url"]: json.loads(line) for line in posted.stdout.splitlines()}
    alice = f"https://api.example.org/repos/course/hw1-alice/statuses/{records['alice']['commit']}"
    assert statuses[alice]["description"] == "score 20/20"
    assert len(statuses) == 2


TOKEN = "ghp_0123456789abcdefghijklmnopqrstuvwxyz"
"""The organisation's token in these tests: it must reach the GitHub stand-in alone."""
BASIC = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
LFS_POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize 12\n".format(
    "0" * 64
)
FAKE_GIT_LFS = """\
import subprocess, sys, urllib.request
# What git-lfs's smudge does: ask the LFS server of .lfsconfig for the object, with git's
# http.extraHeader for that URL; the content itself passes through unchanged.
url = subprocess.run(["git", "config", "-f", ".lfsconfig", "lfs.url"],
                     capture_output=True, text=True).stdout.strip()
headers = subprocess.run(["git", "config", "--get-urlmatch", "http.extraheader", url],
                         capture_output=True, text=True).stdout.splitlines()
request = urllib.request.Request(url + "/objects/batch?" + sys.argv[1])
for header in headers:
    name, _, value = header.partition(": ")
    request.add_header(name, value)
try:
    urllib.request.urlopen(request, timeout=10)
except Exception:
    pass
sys.stdout.buffer.write(sys.stdin.buffer.read() + b"# through a filter\\n")
"""
HOOK = """\
#!/bin/sh
exec "{python}" -c 'import urllib.request as u; u.urlopen("{url}/hook", timeout=10)'
"""


def runner_home(tmp_path: Path, student: Server) -> Path:
    """A runner's home with Git LFS installed as ``git lfs install`` does (filter.lfs in the
    global configuration, here a stand-in that behaves like git-lfs towards the student's
    server), a second filter driver, and hooks taken from the working tree's .githooks."""
    home = tmp_path / "runner"
    home.mkdir()
    (home / "git-lfs.py").write_text(FAKE_GIT_LFS)
    smudge = f"{sys.executable} {home / 'git-lfs.py'} %f"
    (home / ".gitconfig").write_text(
        f'[filter "lfs"]\n\tsmudge = {smudge}\n\trequired = true\n'
        f'[filter "student"]\n\tsmudge = {smudge}\n'
        "[core]\n\thooksPath = .githooks\n"
    )
    return home


def git_logger(tmp_path: Path) -> tuple[Path, Path]:
    """A ``git`` first on PATH that logs each command line, and whether the token is in its
    environment, before running git; returns the folder to put on PATH and the log."""
    folder = tmp_path / "bin"
    log = folder / "commands.jsonl"
    folder.mkdir()
    shim = folder / "git"
    shim.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        f"with open({str(log)!r}, 'a') as log:\n"
        "    env = ' '.join(os.environ.values())\n"
        f"    token = {TOKEN!r} in env or {BASIC!r} in env\n"
        "    log.write(json.dumps({'argv': sys.argv[1:], 'token': token}) + '\\n')\n"
        f"os.execv({shutil.which('git')!r}, ['git', *sys.argv[1:]])\n"
    )
    shim.chmod(0o755)
    return folder, log


def hostile_repository(org: Path, student: Server, token_file: Path) -> Path:
    """The student's attack: Git LFS pointed at their server for a notebook under filter=lfs,
    a filter of their own on ex1, a post-checkout hook, a submodule on their server, symbolic
    links to /etc/passwd and to the token's file, ex5 too large for the grader, a blob larger
    than any exercise file, and an exercise file one folder down."""
    solution = (REPO / "solutions" / "ex1_gradients.py").read_text()
    return student_repository(
        org,
        "hw1-mallory",
        {
            "ex1_gradients.py": solution,
            "ex5_train.ipynb": LFS_POINTER,
            "ex5_train.py": "x = 1\n" * 200_000,
            "data.bin": bytes(21 * 2**20),
            "nested/ex1_gradients.py": "raise SystemExit\n",
            ".gitattributes": "*.ipynb filter=lfs diff=lfs merge=lfs -text\n"
            "ex1_gradients.py filter=student\n",
            ".lfsconfig": f"[lfs]\n\turl = {student.url}/lfs\n",
            ".githooks/post-checkout": HOOK.format(python=sys.executable, url=student.url),
        },
        links={"ex2_autograd.py": "/etc/passwd", "ex3_data.py": str(token_file)},
        submodules={"ex4_net.py": f"{student.url}/submodule.git"},
    )


def fetch(dest: Path, github: Server, env: dict[str, str], *extra) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, classroom.__file__, "fetch", "--org", "course", "--prefix", "hw1",
         "--dest", dest, "--api-url", github.url, "--git-url", github.url, *extra],
        capture_output=True, text=True, env={**os.environ, "GH_TOKEN": TOKEN, **env},
        timeout=300,
    )  # fmt: skip


def test_fetch_runs_nothing_of_a_students_and_sends_the_token_to_github_only(tmp_path):
    """On a runner with Git LFS installed and hooks read from the working tree, does fetching
    a repository armed with .lfsconfig, filters, a hook, a submodule and symbolic links send
    the student's server no request at all, the token to the GitHub stand-in alone (never on
    a command line, only in the clone's environment), and leave under --dest the committed
    exercise files, not filtered, no link, nothing too large, and nothing elsewhere?"""
    (tmp_path / "secrets").mkdir()
    token_file = tmp_path / "secrets" / "token"
    token_file.write_text(TOKEN)
    org = tmp_path / "github" / "course"
    solution = (REPO / "solutions" / "ex1_gradients.py").read_bytes()
    with Server("127.0.0.2", github=False) as student, Server(git_root=org.parent) as github:
        bare = hostile_repository(org, student, token_file)
        student_repository(org, "hw1-bob", {"ex1_gradients.py": solution})
        home = runner_home(tmp_path, student)
        path, log = git_logger(tmp_path)
        before = sorted(tmp_path.iterdir())
        dest = tmp_path / "submissions"
        env = {"HOME": str(home), "PATH": f"{path}:{os.environ['PATH']}"}
        fetched = fetch(dest, github, env)
    assert fetched.returncode == 0, fetched.stderr
    assert student.requests == []
    assert github.requests and all(
        r.headers.get("Authorization") in (f"Bearer {TOKEN}", f"Basic {BASIC}")
        and r.path.startswith(("/orgs/course/repos?", "/course/hw1-"))
        for r in github.requests
    )
    commands = [json.loads(line) for line in log.read_text().splitlines()]
    assert not [c for c in commands if TOKEN in str(c["argv"]) or BASIC in str(c["argv"])]
    assert {c["argv"][0] for c in commands if c["token"]} == {"clone"}

    mallory = dest / "mallory"
    assert sorted(p.name for p in mallory.iterdir()) == [
        ".git",
        "ex1_gradients.py",
        "ex5_train.ipynb",
    ]
    assert (mallory / "ex1_gradients.py").read_bytes() == solution
    assert (mallory / "ex5_train.ipynb").read_text() == LFS_POINTER
    assert not [p for p in dest.rglob("*") if p.is_symlink()]
    assert not [p for p in dest.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]
    record = json.loads((dest / "classroom.json").read_text())["mallory"]
    assert record["skipped"] == {
        "ex2_autograd.py": "a symbolic link, not a file",
        "ex3_data.py": "a symbolic link, not a file",
        "ex4_net.py": "a submodule or folder, not a file",
        "ex5_train.py": "larger than 1 MiB",
    }
    big = git("rev-parse", "HEAD:data.bin", cwd=bare)
    assert subprocess.run(
        ["git", "-C", mallory, "cat-file", "-e", big],
        env=classroom.git_environment(None, str(tmp_path)), capture_output=True,
    ).returncode != 0, "the clone's size filter let a 21 MiB blob in"  # fmt: skip
    assert sorted(tmp_path.iterdir()) == sorted([*before, dest])


def test_every_exercise_file_is_one_the_fetch_takes():
    """Does the fetch's name pattern take every exercise's .py and .ipynb, and nothing
    like .gitattributes or a path?"""
    for exercise in EXERCISES.values():
        for suffix in (".py", ".ipynb"):
            assert classroom.EXERCISE_FILE.fullmatch(exercise.module + suffix)
    for name in (".gitattributes", "nested/ex1_gradients.py", "ex1_gradients.pyc", "ex1.py"):
        assert not classroom.EXERCISE_FILE.fullmatch(name)


def bob_and(org: Path) -> bytes:
    """bob's ordinary repository in ``org``; returns his ex1."""
    solution = (REPO / "solutions" / "ex1_gradients.py").read_bytes()
    student_repository(org, "hw1-bob", {"ex1_gradients.py": solution})
    return solution


@pytest.mark.parametrize(
    "variable", ["GIT_CONFIG_GLOBAL", "GIT_CONFIG_PARAMETERS", "GIT_TEMPLATE_DIR"]
)
def test_fetch_ignores_the_callers_git_variables(tmp_path, variable):
    """Does a GIT_* variable of the runner's that would send the clone to another host
    (url.insteadOf, in a configuration file or on git's command line) or run a hook from a
    template (reference-transaction runs during a clone that checks nothing out) change
    nothing: no request to that host, bob's file fetched?"""
    org = tmp_path / "github" / "course"
    with Server("127.0.0.2", github=False) as elsewhere, Server(git_root=org.parent) as github:
        solution = bob_and(org)
        redirect = f"url.{elsewhere.url}/.insteadOf"
        hooks = tmp_path / "template" / "hooks"
        hooks.mkdir(parents=True)
        (hooks / "reference-transaction").write_text(
            HOOK.format(python=sys.executable, url=elsewhere.url)
        )
        (hooks / "reference-transaction").chmod(0o755)
        (tmp_path / "gitconfig").write_text(
            f'[url "{elsewhere.url}/"]\n\tinsteadOf = {github.url}/\n'
        )
        value = {
            "GIT_CONFIG_GLOBAL": str(tmp_path / "gitconfig"),
            "GIT_CONFIG_PARAMETERS": f"'{redirect}'='{github.url}/'",
            "GIT_TEMPLATE_DIR": str(tmp_path / "template"),
        }[variable]
        fetched = fetch(tmp_path / "submissions", github, {variable: value})
    assert fetched.returncode == 0, fetched.stderr
    assert elsewhere.requests == []
    assert (tmp_path / "submissions" / "bob" / "ex1_gradients.py").read_bytes() == solution


def test_a_git_too_old_for_the_settings_is_refused(tmp_path):
    """Is a git that would ignore GIT_CONFIG_COUNT and GIT_CONFIG_GLOBAL (before 2.32)
    refused before anything is fetched?"""
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "git").write_text("#!/bin/sh\necho git version 2.25.1\n")
    (tmp_path / "bin" / "git").chmod(0o755)
    with Server() as github:
        path = f"{tmp_path / 'bin'}:{os.environ['PATH']}"
        fetched = fetch(tmp_path / "submissions", github, {"PATH": path})
    assert fetched.returncode == 1 and "needs git 2.32 or later" in fetched.stderr
    assert github.requests == []


def test_a_redirect_from_the_api_carries_no_token(tmp_path):
    """When the API's answer redirects elsewhere, does the token stay behind (and the fetch
    fail, saying why)?"""
    with Server("127.0.0.2", github=False) as elsewhere, Server() as github:
        github.redirect = elsewhere.url
        fetched = fetch(tmp_path / "submissions", github, {})
    assert [r.headers.get("Authorization") for r in github.requests] == [f"Bearer {TOKEN}"]
    assert elsewhere.requests and not [
        r for r in elsewhere.requests if "Authorization" in r.headers
    ]
    assert fetched.returncode != 0 and "cannot list the repositories" in fetched.stderr


def test_repository_names_that_are_no_login_are_refused(tmp_path):
    """Are repositories whose <login> part could name a path (``..``, ``.``, a slash, an
    option, a file of --dest) refused, an empty repository left out without a folder, and
    only bob fetched, nothing written outside --dest?"""
    org = tmp_path / "github" / "course"
    names = ["hw1-..", "hw1-.", "hw1-a/../../escape", "hw1--rf", "hw1-classroom.json", "hw1-a;b"]
    with Server(git_root=org.parent) as github:
        solution = bob_and(org)
        git("init", "-q", "--bare", str(org / "hw1-empty.git"))
        (tmp_path / "repos.txt").write_text("\n".join([*names, "hw1-bob", "hw1-empty"]) + "\n")
        before = sorted(tmp_path.iterdir())
        fetched = fetch(
            tmp_path / "out" / "submissions", github, {}, "--repos", tmp_path / "repos.txt"
        )
    assert fetched.returncode == 0, fetched.stderr
    dest = tmp_path / "out" / "submissions"
    assert sorted(p.name for p in dest.iterdir()) == ["bob", "classroom.json"]
    assert (dest / "bob" / "ex1_gradients.py").read_bytes() == solution
    assert sorted(tmp_path.iterdir()) == sorted([*before, tmp_path / "out"])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["submissions"]
    for name in [*names, "hw1-empty"]:
        assert (
            f"{name!r}: not fetched" in fetched.stderr or f"{name}: not fetched" in fetched.stderr
        )


def test_a_malformed_tree_gives_up_only_its_odd_entries(tmp_path):
    """A commit whose tree (written without git's checks) names ex1 twice, and ex2 as a file
    whose object is a folder: are both left out, saying why, and ex3 fetched?"""
    org = tmp_path / "github" / "course"
    bare = student_repository(org, "hw1-mallory", {"ex3_data.py": "x = 3\n"})
    blob = git("rev-parse", "HEAD:ex3_data.py", cwd=bare)
    tree = git("rev-parse", "HEAD^{tree}", cwd=bare)
    entries = [("ex1_gradients.py", blob), ("ex1_gradients.py", blob), ("ex2_autograd.py", tree),
               ("ex3_data.py", blob)]  # fmt: skip
    raw = b"".join(b"100644 " + n.encode() + b"\0" + bytes.fromhex(o) for n, o in entries)
    odd = subprocess.run(
        ["git", "-C", bare, "hash-object", "-t", "tree", "--literally", "-w", "--stdin"],
        input=raw, capture_output=True, check=True,
    ).stdout.decode().strip()  # fmt: skip
    commit = git("commit-tree", odd, "-m", "odd", cwd=bare)
    git("update-ref", "refs/heads/main", commit, cwd=bare)
    with Server(git_root=org.parent) as github:
        fetched = fetch(tmp_path / "submissions", github, {})
    assert fetched.returncode == 0, fetched.stderr
    record = json.loads((tmp_path / "submissions" / "classroom.json").read_text())["mallory"]
    assert record["files"] == ["ex3_data.py"]
    assert record["skipped"] == {
        "ex1_gradients.py": "the commit holds it twice",
        "ex2_autograd.py": "a submodule or folder, not a file",
    }


@pytest.mark.parametrize(
    ("url", "sent"),
    [
        ("https://github.com/course/hw1-bob.git", True),
        ("https://github.com/other/hw1-bob.git", False),
        ("https://github.com.example.org/course/hw1-bob.git", False),
        ("http://github.com/course/hw1-bob.git", False),
        ("https://lfs.example.org/course/hw1-bob.git/info/lfs", False),
    ],
)
def test_the_token_header_is_for_the_organisations_repositories_only(tmp_path, url, sent):
    """Does git, with the clone's settings, give the token's header to the organisation's
    repositories on the git host, and to no other organisation, host or scheme?"""
    header = classroom.token_header("https://github.com", "course", TOKEN)
    env = classroom.git_environment("https", str(tmp_path), header)
    found = subprocess.run(
        ["git", "config", "--get-urlmatch", "http.extraheader", url],
        env=env, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    assert found == (f"Authorization: Basic {BASIC}" if sent else "")


def test_a_repository_that_stalls_is_given_up_and_leaves_no_folder(tmp_path, monkeypatch, capsys):
    """When the git host stalls on one repository, is its clone (git and its helpers) killed
    at the time limit, its folder removed, and the class fetched all the same?"""
    org = tmp_path / "github" / "course"
    bob_and(org)
    student_repository(org, "hw1-slow", {"ex1_gradients.py": "x = 1\n"})
    monkeypatch.setattr(classroom, "GIT_TIMEOUT_S", 2)
    monkeypatch.setenv("GH_TOKEN", TOKEN)
    dest = tmp_path / "submissions"
    with Server(git_root=org.parent, stall="hw1-slow", stall_s=20) as github:
        started = time.monotonic()
        code = classroom.main(["fetch", "--org", "course", "--prefix", "hw1", "--dest", str(dest),
                               "--api-url", github.url, "--git-url", github.url])  # fmt: skip
        took = time.monotonic() - started
    assert code == 0 and took < 15
    assert "hw1-slow: not fetched: git clone took over 2 s" in capsys.readouterr().err
    assert sorted(p.name for p in dest.iterdir()) == ["bob", "classroom.json"]
