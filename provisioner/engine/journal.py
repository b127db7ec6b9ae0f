"""The run journal: one JSON-lines file per run under `<home>/runs/<plan>/` (SPEC section 5),
named `<sequence>-<UTC time>-<random>-<operation>.jsonl`.

Each line is an event with a UTC time: the run's start (plan, operation, user, account,
region), every mutating AWS call (node key, service, operation, request id, outcome), every
node's result, and the run's end with its status. Writes are line-buffered and flushed per
event, so a killed run leaves everything up to its last call on disk. Secrets never reach
it: calls are journaled by name and request id, never with parameters.
"""

from __future__ import annotations

import getpass
import json
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


class Journal:
    def __init__(self, directory: Path, plan: str, operation: str):
        folder = directory / plan
        folder.mkdir(parents=True, exist_ok=True)
        # A sequence number first, so file names sort by age even within one second (runs of
        # one plan hold its lock, so two never pick the same number).
        sequence = 1 + max((int(p.name.split("-", 1)[0]) for p in folder.glob("*.jsonl") if p.name.split("-", 1)[0].isdigit()), default=0)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        self.run_id = f"{sequence:06d}-{stamp}-{uuid.uuid4().hex[:8]}"
        self.path = folder / f"{self.run_id}-{operation}.jsonl"
        self._lock = threading.Lock()
        self._file = self.path.open("a", encoding="utf-8", buffering=1)
        self.record("run-start", plan=plan, operation=operation, user=getpass.getuser(), run_id=self.run_id)

    def record(self, event: str, **data: Any) -> None:
        line = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "event": event, **data}
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
