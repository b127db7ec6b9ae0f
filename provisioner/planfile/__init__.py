"""Loading and validating plan files into frozen specs.

`load_plan("dev")` reads `plans/dev.yaml` (or a path), validates it completely and returns a
`Plan`; on any problem it raises `PlanFileError` carrying every issue found, each with file,
line, field path, what was wrong and what is allowed. Nothing in this package talks to AWS.

Account references (`account: development`) are resolved against `organization.yaml` in the
same directory, which is loaded (and validated) alongside.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from provisioner.planfile import checks
from provisioner.planfile.issues import PlanIssue
from provisioner.planfile.model import (
    PLAN_MODELS,
    EnvironmentPlan,
    OrganizationPlan,
    PlanSpec,
    SharedPlan,
)
from provisioner.planfile.protection import is_protected
from provisioner.planfile.sources import LOADED
from provisioner.planfile.yamlsafe import LoadedYaml, YamlProblem, load_yaml

__all__ = [
    "EnvironmentPlan",
    "OrganizationPlan",
    "Plan",
    "PlanFileError",
    "PlanIssue",
    "SharedPlan",
    "json_schema",
    "load_plan",
    "plan_names",
]

DEFAULT_PLANS_DIR = Path("plans")
_PLAN_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")


class PlanFileError(Exception):
    """One or more plan files are invalid; nothing was sent to AWS."""

    def __init__(self, issues: list[PlanIssue]):
        self.issues = issues
        count = len(issues)
        lines = "\n".join(f"  {issue}" for issue in issues)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in plan files:\n{lines}")


@dataclass(frozen=True)
class Plan:
    """A validated plan file."""

    name: str
    path: Path
    spec: PlanSpec
    organization: OrganizationPlan | None = field(default=None, repr=False)

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def protected(self) -> bool:
        """Destroy refuses protected plans without explicit confirmation (SPEC section 7)."""
        return is_protected(self.spec, self.name)


def plan_names(plans_dir: Path = DEFAULT_PLANS_DIR) -> list[str]:
    return sorted(p.stem for p in plans_dir.glob("*.yaml"))


def resolve_plan_path(ref: str, plans_dir: Path = DEFAULT_PLANS_DIR) -> Path:
    """`ENV` is a plan name in plans/ or a path to a plan file."""
    if ref.endswith((".yaml", ".yml")) or "/" in ref or "\\" in ref:
        path = Path(ref)
        if not path.is_file():
            raise PlanFileError([PlanIssue(ref, None, "", "no such plan file")])
        return path
    if not _PLAN_NAME.fullmatch(ref):
        raise PlanFileError(
            [
                PlanIssue(
                    ref,
                    None,
                    "",
                    f"{ref!r} is not a plan name",
                    "lower-case letters, digits and dashes, or a path to a .yaml file",
                )
            ]
        )
    path = plans_dir / f"{ref}.yaml"
    if not path.is_file():
        known = ", ".join(plan_names(plans_dir)) or "none"
        raise PlanFileError([PlanIssue(str(path), None, "", f"no plan named {ref!r}", f"one of: {known}")])
    return path


def load_plan(ref: str | Path, plans_dir: Path = DEFAULT_PLANS_DIR, enforce_baseline: bool = True) -> Plan:
    """`enforce_baseline=False` (the `check` command) accepts a strict plan that weakens the
    security baseline, so its findings can be reported rather than refused."""
    path = resolve_plan_path(str(ref), plans_dir)
    spec, issues = _load_spec(path)
    organization: OrganizationPlan | None = None
    organization_broken = False
    if spec is not None and not isinstance(spec, OrganizationPlan):
        org_path = path.parent / "organization.yaml"
        if org_path.is_file():
            org_spec, org_issues = _load_spec(org_path)
            if isinstance(org_spec, OrganizationPlan):
                organization = org_spec
            else:
                # Report the organization plan's own problems where it is validated; here,
                # say once that references cannot be checked until it is fixed.
                organization_broken = True
                first = org_issues[0] if org_issues else PlanIssue(str(org_path), 1, "kind", "not an organization plan")
                issues.append(
                    PlanIssue(
                        str(path),
                        None,
                        "account",
                        f"account references cannot be checked: {org_path} is invalid ({first.path or 'file'}: {first.problem})",
                        "fix organization.yaml first (`provisioner validate organization`)",
                    )
                )
    elif isinstance(spec, OrganizationPlan):
        organization = spec
    if spec is not None:
        name = _plan_name(path, spec, issues)
        accounts = set(organization.accounts) if organization is not None else None
        if isinstance(spec, EnvironmentPlan):
            findings = checks.check_environment(
                spec, name, accounts, skip_refs=organization_broken, enforce_baseline=enforce_baseline
            )
        elif isinstance(spec, SharedPlan):
            findings = checks.check_shared(spec, name, accounts, skip_refs=organization_broken)
        else:
            findings = checks.check_organization(spec, name)
        loaded = LOADED[path]
        for f_path, problem, allowed in findings:
            issues.append(PlanIssue(str(path), loaded.line_of(f_path), _dotted(f_path), problem, allowed))
    if issues:
        raise PlanFileError(sorted(issues, key=lambda i: (i.file, i.line or 0)))
    assert spec is not None
    return Plan(name=name, path=path, spec=spec, organization=organization)


def _plan_name(path: Path, spec: PlanSpec, issues: list[PlanIssue]) -> str:
    name = spec.name or path.stem
    if not _PLAN_NAME.fullmatch(name):
        issues.append(
            PlanIssue(
                str(path),
                None,
                "name",
                f"plan name {name!r} (from the file name) is not valid",
                "lower-case letters, digits and dashes; rename the file or set `name`",
            )
        )
    return name


def _load_spec(path: Path) -> tuple[PlanSpec | None, list[PlanIssue]]:
    file = str(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(2 * 1024 * 1024 + 1)
        loaded = load_yaml(raw, size=path.stat().st_size)
    except OSError as exc:
        return None, [PlanIssue(file, None, "", f"cannot read the file: {exc.strerror}")]
    except YamlProblem as exc:
        return None, [PlanIssue(file, exc.line, _dotted(exc.path), exc.message)]
    LOADED[path] = loaded
    data = loaded.data
    if not isinstance(data, dict):
        return None, [
            PlanIssue(
                file,
                1,
                "",
                f"the document is a {type(data).__name__}, not a mapping",
                "a mapping with `kind` and the plan's sections",
            )
        ]
    kind = data.get("kind")
    model = PLAN_MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        problem = "missing `kind`" if kind is None else f"unknown kind {kind!r}"
        return None, [PlanIssue(file, loaded.line_of(("kind",)), "kind", problem, ", ".join(PLAN_MODELS))]
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, _issues_from_pydantic(file, loaded, model, exc.errors())


_TYPE_NAMES = {
    "string_type": "string",
    "int_type": "integer",
    "bool_type": "boolean (true or false)",
    "list_type": "list",
    "dict_type": "mapping",
    "model_type": "mapping",
}


def _issues_from_pydantic(file: str, loaded: LoadedYaml, model: type[BaseModel], errors: list[Any]) -> list[PlanIssue]:
    """One issue per field: a value that fits none of a union's types gives pydantic one
    error per member; they are merged into one issue with every allowed form."""
    merged: dict[str, PlanIssue] = {}
    for err in errors:
        issue = _issue_from_pydantic(file, loaded, model, err)
        earlier = merged.get(issue.path)
        if earlier is None:
            merged[issue.path] = issue
        elif issue.allowed and issue.allowed not in (earlier.allowed or ""):
            allowed = f"{earlier.allowed} or {issue.allowed}" if earlier.allowed else issue.allowed
            merged[issue.path] = PlanIssue(file, earlier.line, earlier.path, earlier.problem, allowed)
    return list(merged.values())


def _data_path(data: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """The part of pydantic's `loc` that is a path in the document.

    pydantic inserts labels of union members and validators (`constrained-str`,
    `literal['Never']`, `function-after[...]`) into `loc`; walking the data keeps only the
    parts that really address a value, plus a final missing or unknown key.
    """
    path: list[Any] = []
    current = data
    for part in loc:
        if (isinstance(current, dict) and part in current) or (
            isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        ):
            path.append(part)
            current = current[part]
        elif (
            isinstance(current, dict) and isinstance(part, str) and not any(c in part for c in "[-") and part == loc[-1]
        ):
            path.append(part)  # a missing key
            break
    return tuple(path)


_BOUNDS = {"ge": ">= {}", "gt": "> {}", "le": "<= {}", "lt": "< {}"}


def _issue_from_pydantic(file: str, loaded: LoadedYaml, model: type[BaseModel], err: Any) -> PlanIssue:
    loc = _data_path(loaded.data, tuple(err["loc"]))
    kind = err["type"]
    ctx = err.get("ctx") or {}
    allowed: str | None = None
    if kind == "extra_forbidden":
        problem = f"unknown key {loc[-1]!r}"
        keys = _allowed_keys(model, loc[:-1])
        allowed = ", ".join(keys) if keys else None
    elif kind == "missing":
        problem = "required key is missing"
        allowed = "the key, with a value"
    elif kind in _TYPE_NAMES:
        got = err.get("input")
        expected = _TYPE_NAMES[kind]
        problem = f"wrong type: {type(got).__name__} {got!r:.60}"
        allowed = f"an {expected}" if expected[0] in "aeiou" else f"a {expected}"
        if isinstance(got, (float, int)) and not isinstance(got, bool) and expected == "string":
            written = loaded.source.get(loc, str(got))
            allowed += f' (quote it: "{written}")'
    elif kind == "value_error":
        message = str(ctx.get("error") or err["msg"]).removeprefix("Value error, ")
        problem, _, allowed_text = message.partition("; allowed: ")
        allowed = allowed_text or None
    elif "pattern" in ctx:
        problem = f"{err.get('input')!r:.80} has the wrong format"
        allowed = f"text matching {ctx['pattern']}"
    elif "expected" in ctx:
        problem = f"{err.get('input')!r:.80} is not allowed"
        allowed = str(ctx["expected"])
    elif "min_length" in ctx or "max_length" in ctx:
        problem = err["msg"]
        low, high = ctx.get("min_length"), ctx.get("max_length")
        allowed = (
            f"{low} to {high} items"
            if low is not None and high is not None
            else (f"at least {low} items" if low is not None else f"at most {high} items")
        )
        if kind.startswith("string"):
            allowed = allowed.replace("items", "characters")
    elif any(bound in ctx for bound in _BOUNDS):
        problem = f"{err.get('input')!r:.80} is out of range"
        allowed = " and ".join(_BOUNDS[b].format(ctx[b]) for b in _BOUNDS if b in ctx)
    else:
        problem = err["msg"]
    return PlanIssue(file, loaded.line_of(loc), _dotted(loc), problem, allowed)


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed at `loc`, walking the model's field annotations (for "unknown key" hints)."""
    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(part) if isinstance(part, str) else None
            if info is None:
                return []
            current = info.annotation
        else:  # a list index or a dict key: step into the container's value type
            args = getattr(current, "__args__", None)
            if not args:
                return []
            current = args[-1]
        current = _strip_optional(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return []


def _strip_optional(annotation: Any) -> Any:
    """`X | None` -> X; Annotated[X, ...] -> X."""
    metadata_origin = getattr(annotation, "__origin__", None)
    if getattr(annotation, "__metadata__", None) is not None and metadata_origin is not None:
        annotation = metadata_origin
    args = getattr(annotation, "__args__", None)
    if args and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return annotation


def _dotted(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def json_schema() -> dict[str, Any]:
    """The JSON Schema of plan files: one of the three plan kinds, chosen by `kind`."""
    defs: dict[str, Any] = {}
    variants = []
    for _kind, model in PLAN_MODELS.items():
        schema = model.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(schema.pop("$defs", {}))
        defs[model.__name__] = schema
        variants.append({"$ref": f"#/$defs/{model.__name__}"})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "provisioner plan file",
        "oneOf": variants,
        "discriminator": {"propertyName": "kind"},
        "$defs": defs,
    }


def dump_schema() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True)
