"""Atomic outputs: a stage either writes a complete output or none at all; and the JSON reader.

Outputs are written to a temporary sibling first and moved into place with
``os.replace`` only once complete, so a crash or a SIGKILL mid-write never
leaves a half-written file that DVC could record as a valid output.
``read_json`` reads what ``write_json`` wrote (another stage's output), naming
the file and the fix when it is missing or broken.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from emotion_lib.errors import UserError


def _as_created(path: Path, base: int) -> None:
    """Give ``path`` the mode a plain ``open``/``mkdir`` would: ``base`` less the umask.

    ``tempfile`` makes its files 0600 and its directories 0700 (private until complete); the finished output must
    not stay so, or another user of a shared machine or DVC cache could not read it.
    """
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(base & ~umask)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``path`` only if the block succeeds."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.is_dir() and not final.is_symlink():
        shutil.rmtree(final)
    elif final.exists() or final.is_symlink():
        final.unlink()
    _as_created(tmp, 0o777)
    os.replace(tmp, final)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary file path that replaces ``path`` only if the block succeeds.

    The temporary name keeps the final suffix, so writers that infer the
    format from the extension (Keras, matplotlib, numpy) behave the same.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{final.stem}.tmp-", suffix="".join(final.suffixes), dir=final.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if tmp.is_file():
        _as_created(tmp, 0o666)
    os.replace(tmp, final)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as stable, sorted, indented JSON, atomically."""
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike, what: str, fix: str) -> dict:
    """Read a JSON object from ``path`` or raise a :class:`UserError` that names ``what``, the file and the fix."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} {path} not found; {fix}")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"{what} {path} is not valid JSON ({exc}); {fix}") from exc
    if not isinstance(data, dict):
        raise UserError(f"{what} {path} must hold a JSON object; {fix}")
    return data


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` atomically."""
    with atomic_file(path) as tmp:
        tmp.write_text(text)
