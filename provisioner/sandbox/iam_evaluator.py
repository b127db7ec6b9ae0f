"""A small IAM policy evaluator, for sandbox actors that must act only as their role allows
(the emulated Karpenter controller, `karpenter_controller.py`).

`evaluate(policies, action, resource, context, boundary=None)` follows IAM's logic for one
principal's identity-based policies: an explicit Deny in any statement wins; else an Allow
in some statement grants; else the request is implicitly denied. With a permissions
boundary the boundary's policies must also allow (an Allow there does not grant by itself).

A statement matches when its `Action` (or `NotAction`), `Resource` (or `NotResource`) and
every `Condition` match. Actions compare case-insensitively, resources case-sensitively;
`*` matches any run of characters (slashes included) and `?` one character, as IAM's
wildcards do.

Conditions understood, with IAM's semantics for multiple keys (all must match) and values
(any may match): StringEquals, StringNotEquals, StringEqualsIgnoreCase, StringLike,
StringNotLike, ArnEquals, ArnLike, ArnNotEquals, ArnNotLike, Bool, Null, the `...IfExists`
form of each (a missing key matches), and the `ForAllValues:` / `ForAnyValue:` qualifiers
for multivalued keys (aws:TagKeys). A key the request context lacks makes a plain operator
not match (a negated one matches), as on AWS.

Unknown condition operators (numeric and date operators, IpAddress...): the choice here is to
fail closed. An Allow statement carrying one does not match (it grants nothing), and a Deny
statement carrying one matches (it denies), so the evaluator never allows more than AWS
would; `Decision.note` says when that happened.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Decision:
    allowed: bool
    reason: str  # "allowed", "explicit deny", "no statement allows it", "the permissions boundary does not allow it"
    statement: str | None = None  # Sid (or index) of the deciding statement
    notes: list[str] = field(default_factory=list)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _pattern(text: str, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)
    return re.compile(f"^{regex}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def matches(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM wildcard match: `*` any run of characters, `?` one character."""
    return bool(_pattern(pattern, ignore_case).match(value))


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_PLAIN = {
    "StringEquals": lambda want, have: want == have,
    "StringEqualsIgnoreCase": lambda want, have: want.lower() == have.lower(),
    "StringLike": lambda want, have: matches(want, have),
    "ArnEquals": lambda want, have: want == have,
    "ArnLike": lambda want, have: matches(want, have),
    "Bool": lambda want, have: want.lower() == have.lower(),
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


def _condition(operator: str, key: str, wanted: Any, context: dict[str, Any]) -> bool | None:
    """True/False, or None when the operator is not understood."""
    qualifier = None
    if ":" in operator:
        qualifier, operator = operator.split(":", 1)
        if qualifier not in ("ForAllValues", "ForAnyValue"):
            return None
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    # Context keys are case-insensitive in IAM.
    present = {k.lower(): v for k, v in context.items()}
    have = present.get(key.lower())
    wanted_values = [_scalar(w) for w in _as_list(wanted)]
    if base == "Null":
        return (have is None) == (wanted_values[0].lower() == "true")
    negated = base in _NEGATED
    test = _PLAIN.get(_NEGATED.get(base, base))
    if test is None:
        return None
    if have is None:
        if qualifier == "ForAllValues":
            return True
        return bool(if_exists or negated)
    have_values = [_scalar(h) for h in _as_list(have)]

    def one(value: str) -> bool:
        hit = any(test(w, value) for w in wanted_values)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(one(v) for v in have_values)
    if qualifier == "ForAnyValue":
        return any(one(v) for v in have_values)
    if negated:
        return all(one(v) for v in have_values)
    return any(one(v) for v in have_values)


def _statement_matches(
    statement: dict[str, Any], action: str, resource: str, context: dict[str, Any], notes: list[str]
) -> bool:
    if "Action" in statement:
        if not any(matches(a, action, ignore_case=True) for a in _as_list(statement["Action"])):
            return False
    elif "NotAction" in statement:
        if any(matches(a, action, ignore_case=True) for a in _as_list(statement["NotAction"])):
            return False
    if "Resource" in statement:
        if not any(matches(r, resource) for r in _as_list(statement["Resource"])):
            return False
    elif "NotResource" in statement:
        if any(matches(r, resource) for r in _as_list(statement["NotResource"])):
            return False
    for operator, keys in (statement.get("Condition") or {}).items():
        for key, wanted in keys.items():
            result = _condition(operator, key, wanted, context)
            if result is None:
                notes.append(f"condition operator {operator} is not understood: treated as failing closed")
                return statement.get("Effect") == "Deny"
            if not result:
                return False
    return True


def _documents(policies: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(p) if isinstance(p, str) else p for p in policies]


def evaluate(
    policies: list[Any],
    action: str,
    resource: str,
    context: dict[str, Any] | None = None,
    boundary: list[Any] | None = None,
) -> Decision:
    """The decision for one request by a principal with these identity-based policies
    (documents or their JSON text) and, optionally, a permissions boundary."""
    context = context or {}
    notes: list[str] = []
    allowed_by = None
    for document in _documents(policies):
        for index, statement in enumerate(_as_list(document.get("Statement"))):
            sid = statement.get("Sid") or f"#{index}"
            if not _statement_matches(statement, action, resource, context, notes):
                continue
            if statement.get("Effect") == "Deny":
                return Decision(False, "explicit deny", sid, notes)
            if statement.get("Effect") == "Allow" and allowed_by is None:
                allowed_by = sid
    if allowed_by is None:
        return Decision(False, "no statement allows it", None, notes)
    if boundary is not None:
        bounded = evaluate(boundary, action, resource, context)
        if not bounded.allowed:
            return Decision(
                False, "the permissions boundary does not allow it", bounded.statement, notes + bounded.notes
            )
    return Decision(True, "allowed", allowed_by, notes)


def tag_context(prefix: str, tags: dict[str, str]) -> dict[str, Any]:
    """`aws:ResourceTag/<k>` (or `aws:RequestTag/<k>`) keys for a tag map."""
    return {f"{prefix}/{k}": v for k, v in tags.items()}
