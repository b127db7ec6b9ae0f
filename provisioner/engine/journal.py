"""The run journal: one JSON-lines file per run under `<home>/runs/<plan>/` (SPEC section 5),
named `<sequence>-<UTC time>-<random>-<operation>.jsonl`.

Each line is an event with a UTC time: the run's start (plan, operation, local user, host,
pid), its target (account, region, the caller's ARN), every mutating AWS call (node key,
service, operation, request id, outcome), every node's result, and the run's end with its
status. Writes are line-buffered and flushed per event, so a killed run leaves everything up
to its last call on disk. Secrets never reach it: calls are journaled by name and request
id, never with parameters.

`read_runs` and `summarize_run` read it back for `history`: a run without a `run-end` event
was killed (or is still running: the caller can tell by the plan's lock).
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class Journal:
    def __init__(self, directory: Path, plan: str, operation: str):
        folder = directory / plan
        folder.mkdir(parents=True, exist_ok=True)
        # A sequence number first, so file names sort by age even within one second (runs of
        # one plan hold its lock, so two never pick the same number).
        sequence = 1 + max(
            (int(p.name.split("-", 1)[0]) for p in folder.glob("*.jsonl") if p.name.split("-", 1)[0].isdigit()),
            default=0,
        )
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.run_id = f"{sequence:06d}-{stamp}-{uuid.uuid4().hex[:8]}"
        self.path = folder / f"{self.run_id}-{operation}.jsonl"
        self._lock = threading.Lock()
        self._file = self.path.open("a", encoding="utf-8", buffering=1)
        self.record(
            "run-start",
            plan=plan,
            operation=operation,
            user=getpass.getuser(),
            host=socket.gethostname(),
            pid=os.getpid(),
            run_id=self.run_id,
        )

    def record(self, event: str, **data: Any) -> None:
        line = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "event": event, **data}
        text = json.dumps(line, default=str)
        with self._lock:
            if not self._file.closed:
                self._file.write(text + "\n")

    def close(self, status: str, **data: Any) -> None:
        self.record("run-end", status=status, **data)
        with self._lock:
            self._file.close()


def read_runs(directory: Path, plan: str) -> list[list[dict[str, Any]]]:
    """Every journaled run of a plan, oldest first (for `history`)."""
    runs = []
    for path in sorted((directory / plan).glob("*.jsonl")):
        events = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue  # a line cut short by a kill
        runs.append(events)
    return runs


CHANGE_ACTIONS = ("create", "update", "replace", "delete")


def summarize_run(events: list[dict[str, Any]]) -> dict[str, Any]:
    """One run's history row: when, who, what changed and how it ended.

    `changes` counts the nodes that were done per action (what really changed, also in a
    failed run); a run killed before its end has no node results, only its API calls, so
    `mutating_calls` says how much it may have done. `status` is the run-end's (ok, failed,
    interrupted, error) or `crashed` when there is none.
    """
    start = next((e for e in events if e.get("event") == "run-start"), {})
    target = next((e for e in events if e.get("event") == "target"), {})
    end = next((e for e in reversed(events) if e.get("event") == "run-end"), None)
    nodes = [e for e in events if e.get("event") == "node"]
    changes = {action: 0 for action in CHANGE_ACTIONS}
    for node in nodes:
        if node.get("status") == "done" and node.get("action") in changes:
            changes[node["action"]] += 1
    started = start.get("time") or (events[0].get("time") if events else None)
    ended = end.get("time") if end else (events[-1].get("time") if events else None)
    if end is not None and end.get("duration") is not None:
        duration: float | None = float(end["duration"])
    else:
        duration = _seconds_between(started, ended)
    return {
        "run_id": start.get("run_id"),
        "plan": start.get("plan"),
        "operation": start.get("operation"),
        "started": started,
        "ended": ended if end else None,
        "who": target.get("caller"),
        "user": start.get("user"),
        "host": start.get("host"),
        "account": target.get("account"),
        "region": target.get("region"),
        "sandbox": target.get("sandbox"),
        "status": end.get("status") if end else "crashed",
        "duration": duration,
        "changes": changes,
        "failed_nodes": sorted(n["key"] for n in nodes if n.get("status") == "failed"),
        "mutating_calls": sum(1 for e in events if e.get("event") == "api-call"),
    }


def _seconds_between(first: str | None, last: str | None) -> float | None:
    if not first or not last:
        return None
    try:
        return (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()
    except ValueError:
        return None
