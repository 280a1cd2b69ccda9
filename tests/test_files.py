"""The atomic file writer behind results, exports and the data cache."""

import os
import stat

import pytest

from grader.files import atomic_write


def test_atomic_write_gives_plain_file_permissions(tmp_path):
    """Is a result readable as a file written with open() would be, not owner-only?"""
    path = tmp_path / "out" / "alice.json"
    atomic_write(path, lambda f: f.write(b"{}\n"))
    umask = os.umask(0)
    os.umask(umask)
    assert path.read_bytes() == b"{}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_atomic_write_leaves_nothing_when_the_writer_fails(tmp_path):
    """Does a failure keep the old file and leave no temp file behind?"""
    path = tmp_path / "alice.json"
    path.write_bytes(b"old")

    def broken(f):
        f.write(b"half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        atomic_write(path, broken)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["alice.json"]
