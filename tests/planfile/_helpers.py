"""Helpers for the plan file tests: shipped plan text, mutations, and writing a bad plan."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from provisioner.planfile import PlanFileError, PlanIssue, load_plan

REPO = Path(__file__).resolve().parents[2]
PLANS = REPO / "plans"


def shipped(name: str) -> str:
    """The text of a shipped plan, e.g. shipped("dev")."""
    return (PLANS / f"{name}.yaml").read_text(encoding="utf-8")


def mutate(text: str, old: str, new: str) -> str:
    """Replace the one occurrence of `old`; fail loudly if the plan no longer contains it."""
    assert text.count(old) == 1, f"expected exactly one {old!r} in the plan text"
    return text.replace(old, new)


def line_of(text: str, snippet: str) -> int:
    """The 1-based line on which `snippet` (unique in `text`) starts."""
    assert text.count(snippet) == 1, f"expected exactly one {snippet!r} in the plan text"
    return text[: text.index(snippet)].count("\n") + 1


@dataclass
class BadPlan:
    path: Path
    text: str
    issues: list[PlanIssue]

    def line(self, snippet: str) -> int:
        return line_of(self.text, snippet)

    def issue(self, field: str) -> PlanIssue:
        """The one issue reported for `field` (a dotted path, "" for file-level problems)."""
        matches = [i for i in self.issues if i.path == field]
        assert len(matches) == 1, f"expected one issue at {field!r}, got {self.issues}"
        assert matches[0].file == str(self.path)
        return matches[0]

    def assert_issue(
        self,
        field: str,
        *,
        line: int | None,
        problem: tuple[str, ...] = (),
        allowed: tuple[str, ...] = (),
    ) -> PlanIssue:
        issue = self.issue(field)
        assert issue.line == line, f"{issue} should be on line {line}"
        for part in problem:
            assert part in issue.problem, f"{part!r} not in problem of {issue}"
        for part in allowed:
            assert issue.allowed is not None and part in issue.allowed, f"{part!r} not in allowed of {issue}"
        return issue


def write_bad_plan(directory: Path, content: str | bytes, name: str = "bad.yaml") -> BadPlan:
    """Write `content` as `directory/name`, load it, and return the PlanFileError's issues."""
    path = directory / name
    raw = content if isinstance(content, bytes) else content.encode("utf-8")
    path.write_bytes(raw)
    with pytest.raises(PlanFileError) as info:
        load_plan(path, plans_dir=directory)
    assert info.value.issues, "a PlanFileError must carry at least one issue"
    text = raw.decode("utf-8", errors="replace")
    return BadPlan(path=path, text=text, issues=info.value.issues)
