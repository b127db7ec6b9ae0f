"""Journal: one JSON-lines file per run, flushed per event, and read back for history."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import provisioner.engine.journal as journal_module
from provisioner.engine.journal import Journal, read_runs


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_record_journal_events_are_json_lines_with_time_and_event(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "dev", "apply")
    assert journal.path.parent == tmp_path / "dev"
    assert journal.path.name == f"{journal.run_id}-apply.jsonl"
    journal.record("call", key="network/vpc", operation="CreateVpc", request_id="r-1")
    # Flushed per event: on disk before the run ends.
    events = lines(journal.path)
    journal.close("ok")
    assert [e["event"] for e in events] == ["run-start", "call"]
    start = events[0]
    assert (start["plan"], start["operation"], start["run_id"]) == ("dev", "apply", journal.run_id)
    assert start["user"]
    assert events[1]["operation"] == "CreateVpc"
    for event in events:
        assert datetime.fromisoformat(event["time"]).tzinfo == UTC


def test_close_journal_writes_run_end(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "dev", "destroy")
    journal.close("failed", duration=12.5)
    end = lines(journal.path)[-1]
    assert (end["event"], end["status"], end["duration"]) == ("run-end", "failed", 12.5)
    journal.record("late", key="x")  # after close: dropped, not an error
    assert lines(journal.path)[-1]["event"] == "run-end"


def test_record_journal_unserialisable_value_as_text(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "dev", "apply")
    journal.record("node", path=tmp_path)
    journal.close("ok")
    assert lines(journal.path)[1]["path"] == str(tmp_path)


def test_read_runs_returns_each_run_events(tmp_path: Path) -> None:
    first = Journal(tmp_path, "dev", "apply")
    first.record("node", key="a", status="done")
    first.close("ok")
    other = Journal(tmp_path, "prod", "apply")
    other.close("ok")
    runs = read_runs(tmp_path, "dev")
    assert [[e["event"] for e in run] for run in runs] == [["run-start", "node", "run-end"]]
    assert runs[0][1]["key"] == "a"
    assert read_runs(tmp_path, "nothing-yet") == []


def test_read_runs_skips_truncated_last_line(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "dev", "apply")
    journal.record("call", key="a", operation="CreateVpc")
    journal.close("ok")
    with journal.path.open("a", encoding="utf-8") as f:
        f.write('{"time": "2025-01-01T00:00:00.000+00:00", "event": "ca')  # a run killed mid-write
    (run,) = read_runs(tmp_path, "dev")
    assert [e["event"] for e in run] == ["run-start", "call", "run-end"]


def test_read_runs_same_second_oldest_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz: object = None) -> FrozenDatetime:  # type: ignore[override]
            return cls(2025, 1, 1, 12, 0, 0, tzinfo=UTC)

    suffixes = iter(["f" * 32, "0" * 32])  # what uuid4 may well return, in this order
    monkeypatch.setattr(journal_module, "datetime", FrozenDatetime)
    monkeypatch.setattr(journal_module, "uuid", SimpleNamespace(uuid4=lambda: SimpleNamespace(hex=next(suffixes))))
    Journal(tmp_path, "dev", "apply").close("ok")
    Journal(tmp_path, "dev", "destroy").close("ok")
    assert [run[0]["operation"] for run in read_runs(tmp_path, "dev")] == ["apply", "destroy"]
