"""emotion_lib.atomic: outputs appear whole or not at all, with the permissions a plain write would give them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from emotion_lib.atomic import atomic_dir, write_json, write_text


@pytest.fixture(params=[0o022, 0o077])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def test_finished_outputs_have_the_mode_a_plain_write_gives(tmp_path: Path, umask: int) -> None:
    """tempfile keeps work in progress private (0600 / 0700); a finished output is readable as any file would be."""
    write_json(tmp_path / "metrics.json", {"accuracy": 1.0})
    write_text(tmp_path / "report.txt", "ok\n")
    with atomic_dir(tmp_path / "prepared") as tmp:
        (tmp / "train.npz").write_bytes(b"x")
    for name, base in (("metrics.json", 0o666), ("report.txt", 0o666), ("prepared", 0o777)):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == base & ~umask, name


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "prepared") as tmp:
        (tmp / "half.npz").write_bytes(b"x")
        raise RuntimeError("killed mid-write")
    assert list(tmp_path.iterdir()) == []
