"""engine.gather: a node's independent calls at once, in the node's context."""

from __future__ import annotations

import threading
import time

import pytest

from provisioner.engine.context import current_key
from provisioner.engine.gather import gather


def test_gather_runs_the_calls_at_the_same_time_and_answers_in_order() -> None:
    # Each call waits for all three to have started: made one after another they would
    # never get past the barrier.
    barrier = threading.Barrier(3, timeout=10)

    def call(answer: int, delay: float) -> int:
        barrier.wait()
        time.sleep(delay)  # the first asked ends last
        return answer

    assert gather(lambda: call(1, 0.05), lambda: call(2, 0.0), lambda: call(3, 0.02)) == [1, 2, 3]


def test_gather_calls_see_the_node_key_the_journal_records() -> None:
    token = current_key.set("organization/baseline/staging/us-east-1/default-vpc")
    try:
        keys = gather(current_key.get, current_key.get)
    finally:
        current_key.reset(token)
    assert keys == ["organization/baseline/staging/us-east-1/default-vpc"] * 2


def test_gather_raises_the_first_error_once_every_call_has_ended() -> None:
    ended = threading.Event()

    def fails() -> None:
        raise ValueError("DependencyViolation")

    def slow() -> str:
        time.sleep(0.1)
        ended.set()
        return "done"

    with pytest.raises(ValueError, match="DependencyViolation"):
        gather(slow, fails)
    assert ended.is_set()  # nothing of the node still runs once it has failed


def test_gather_of_one_call_or_none() -> None:
    assert gather() == []
    assert gather(lambda: "only") == ["only"]
