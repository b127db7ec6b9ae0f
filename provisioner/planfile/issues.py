"""A problem found in a plan file, located by file, line and field path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PlanIssue:
    file: str
    line: int | None
    path: str
    problem: str
    allowed: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        field_part = f" {self.path}:" if self.path else ""
        allowed = f" (allowed: {self.allowed})" if self.allowed else ""
        return f"{where}:{field_part} {self.problem}{allowed}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "path": self.path,
            "problem": self.problem,
            "allowed": self.allowed,
        }
