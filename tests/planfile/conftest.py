"""Fixtures for plan file tests: a scratch plans directory that resolves account references."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from ._helpers import PLANS, BadPlan, write_bad_plan


@pytest.fixture
def plan_dir(tmp_path: Path) -> Path:
    """A scratch plans directory holding a copy of the shipped organization.yaml."""
    directory = tmp_path / "plans"
    directory.mkdir()
    shutil.copy(PLANS / "organization.yaml", directory / "organization.yaml")
    return directory


@pytest.fixture
def bad_plan(plan_dir: Path) -> Callable[..., BadPlan]:
    """bad_plan(text, name="bad.yaml") -> BadPlan: write it beside organization.yaml and load it."""

    def write(content: str | bytes, name: str = "bad.yaml") -> BadPlan:
        return write_bad_plan(plan_dir, content, name)

    return write
