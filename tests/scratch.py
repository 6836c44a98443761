"""Where the tests' scratch files go: a RAM filesystem (/dev/shm) when the machine has one with
room to spare and the user has not chosen with TMPDIR.

The suite creates and deletes tens of thousands of small files (a git repository, a cache and a
report folder per test; every atomic write replaces a file). On ext4 without a journal (this
machine's root filesystem, as the kernel's profile shows), each new inode is searched for past
every inode deleted in the last minute (`recently_deleted` in fs/ext4/ialloc.c), so creating a
file costs 0.06-0.47 ms against 0.03 ms on tmpfs (bench/bench_file_churn.py), and the fast suite
under `pytest -n 2` took 37 s on disk and 26-30 s on tmpfs (bench/RESULTS.md, session 11). The tests exercise the same calls either way
(rename, stat, permissions); nothing here depends on the disk.

Set TMPDIR (to /tmp, say) to keep them where you want: it is always respected.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping

TMPFS = "/dev/shm"
MIN_FREE = 2 * 1024**3  # a full run leaves ~70 MB, and pytest keeps the last three runs


def _is_tmpfs(path: str, mounts: str) -> bool:
    """`mounts`: /proc/self/mounts (device, mount point, type, ...)."""
    return any(fields[1:3] == [path, "tmpfs"]
               for fields in (line.split() for line in mounts.splitlines()) if len(fields) > 2)


def tmpfs_scratch(env: Mapping[str, str], mounts: str, free_bytes: int | None,
                  writable: bool) -> str | None:
    """The folder to use as TMPDIR, or None to leave the default alone."""
    if "TMPDIR" in env or free_bytes is None or not writable:
        return None
    if not _is_tmpfs(TMPFS, mounts) or free_bytes < MIN_FREE:
        return None
    return TMPFS


def use_tmpfs_scratch() -> str | None:
    """Point TMPDIR (this process and what it starts: xdist workers, git, the CLI) and Python's
    tempfile at the RAM filesystem when `tmpfs_scratch` says so. Called when tests/conftest.py is
    imported, before pytest picks its temp root. Returns the folder chosen, if any."""
    try:
        with open("/proc/self/mounts", encoding="utf-8") as handle:
            mounts = handle.read()
        stat = os.statvfs(TMPFS)
        free: int | None = stat.f_bavail * stat.f_frsize
    except OSError:  # not Linux, or no /dev/shm
        mounts, free = "", None
    chosen = tmpfs_scratch(os.environ, mounts, free, os.access(TMPFS, os.W_OK | os.X_OK))
    if chosen is not None:
        os.environ["TMPDIR"] = chosen
        tempfile.tempdir = None  # computed again from TMPDIR on the next use
    return chosen
