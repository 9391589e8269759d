"""Shared pytest fixtures: the repository root, the real params, and a shrunk copy of them."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import yaml

# Before any test module imports TensorFlow: the library chooses TensorFlow's CPU kernels on import, so in-process
# tests compute with the same kernels as the stages do.
import emotion_lib  # noqa: F401

REPO_ROOT = Path(__file__).resolve().parents[1]

# Keep TensorFlow quiet and single-threaded-deterministic in every test process and its children.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture()
def real_params() -> dict:
    """A fresh copy of the real params.yaml as a dict, for tests that edit it."""
    return copy.deepcopy(yaml.safe_load((REPO_ROOT / "params.yaml").read_text()))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the slow end-to-end tests first.

    Under pytest-xdist (``-n auto --dist loadscope --no-loadscope-reorder``), each end-to-end class is one unit of
    work given to one worker in collection order; starting them first lets the other workers fill the long builds'
    time with the rest of the suite instead of leaving a build for last.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: otherwise collection order
