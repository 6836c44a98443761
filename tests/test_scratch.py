"""tests/scratch.py: the tests' scratch folder goes to /dev/shm only when it is a tmpfs with room
and the user has not set TMPDIR."""

from __future__ import annotations

import pytest

from tests.scratch import MIN_FREE, TMPFS, tmpfs_scratch

MOUNTS = ("/dev/vda / ext4 rw,relatime 0 0\n"
          "tmpfs /dev/shm tmpfs rw,nosuid,nodev,size=24683784k 0 0\n")


def test_a_roomy_writable_tmpfs_is_chosen():
    assert tmpfs_scratch({}, MOUNTS, MIN_FREE, True) == TMPFS


@pytest.mark.parametrize("env, mounts, free, writable", [
    ({"TMPDIR": "/tmp"}, MOUNTS, MIN_FREE, True),  # the user chose
    ({"TMPDIR": ""}, MOUNTS, MIN_FREE, True),  # set, even if empty: theirs to decide
    ({}, MOUNTS, MIN_FREE - 1, True),  # a container's 64 MB /dev/shm
    ({}, MOUNTS, None, True),  # no /dev/shm (macOS)
    ({}, MOUNTS, MIN_FREE, False),
    ({}, "/dev/vda / ext4 rw 0 0\n/dev/vdb /dev/shm ext4 rw 0 0\n", MIN_FREE, True),
    ({}, "tmpfs /dev/shm/sub tmpfs rw 0 0\n", MIN_FREE, True),
])
def test_otherwise_the_default_is_left_alone(env, mounts, free, writable):
    assert tmpfs_scratch(env, mounts, free, writable) is None
