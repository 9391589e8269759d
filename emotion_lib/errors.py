"""User-facing errors.

A :class:`UserError` means the user's input (a path, a file, a param) is wrong
and the message already says what to fix.  Stage CLIs print it as one line and
exit non-zero instead of showing a traceback.
"""

from __future__ import annotations

import os


class UserError(ValueError):
    """Bad input that the user can fix; the message names the path or key and the fix."""


def why_not_a_file(path: os.PathLike | str) -> str:
    """The words for a path that should be a file and is not: "is a folder, not a file" or "does not exist"."""
    return "is a folder, not a file" if os.path.isdir(path) else "does not exist"
