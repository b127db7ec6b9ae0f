"""Fixtures for engine tests: an in-memory cloud, a fake clock and a runner factory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from provisioner.engine import Resource, RunContext, Runner

from .fakes import FakeClock, FakeCloud, RecordingReporter, make_plan


@pytest.fixture
def cloud() -> FakeCloud:
    return FakeCloud()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def reporter() -> RecordingReporter:
    return RecordingReporter()


@pytest.fixture
def runner_for(cloud: FakeCloud, clock: FakeClock, reporter: RecordingReporter) -> Callable[..., Runner]:
    """A fresh Runner (and RunContext) over the shared cloud, as a new CLI run would make."""

    def make(resources: list[Resource], **kwargs: Any) -> Runner:
        ctx = RunContext(plan=make_plan(), aws=cloud, reporter=reporter, clock=clock)
        return Runner(ctx, resources, **kwargs)

    return make
