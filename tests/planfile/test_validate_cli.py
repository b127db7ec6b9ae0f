"""`provisioner validate` and `provisioner schema`: offline, one clear report, nothing sent to AWS."""

from __future__ import annotations

import io
import json
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from provisioner.cli import main

from ._helpers import PLANS, REPO, line_of, mutate, shipped

SHIPPED = ("dev", "organization", "prod", "shared", "staging")


@dataclass
class Run:
    code: int
    out: str
    err: str


def run_cli(*args: str) -> Run:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), out=out, err=err)
    return Run(code, out.getvalue(), err.getvalue())


@pytest.fixture
def bad_cidr_plan(plan_dir: Path) -> Path:
    path = plan_dir / "bad.yaml"
    path.write_text(mutate(shipped("dev"), "cidr: 10.10.0.0/16", "cidr: 10.10.0.0/33"))
    return path


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Make every outgoing connection fail loudly; returns the addresses that were tried."""
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError(f"test forbids network access (tried {address!r})")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


# ---------------------------------------------------------------------------------- validate


def test_validate_without_args_checks_all_shipped_plans(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    result = run_cli("validate")
    assert result.code == 0, result.err
    assert result.err == ""
    assert result.out.splitlines() == [
        "ok  plans/dev.yaml  (environment)",
        "ok  plans/organization.yaml  (organization, protected)",
        "ok  plans/prod.yaml  (environment, protected)",
        "ok  plans/shared.yaml  (shared)",
        "ok  plans/staging.yaml  (environment)",
    ]


def test_validate_json_lists_valid_plans(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli("validate", "--plans-dir", str(PLANS), "--output", "json")
    assert result.code == 0
    assert json.loads(result.out) == {"valid": True, "plans": list(SHIPPED), "issues": []}


def test_validate_bad_file_exits_1_with_located_issue(bad_cidr_plan: Path) -> None:
    result = run_cli("validate", str(bad_cidr_plan))
    line = line_of(bad_cidr_plan.read_text(), "cidr: 10.10.0.0/33")
    assert result.code == 1
    assert result.out == ""
    assert f"{bad_cidr_plan}:{line}: network.cidr: '10.10.0.0/33' is not a valid CIDR block" in result.err
    assert "1 problem in plan files" in result.err
    assert "Nothing was sent to AWS." in result.err
    assert "Traceback" not in result.err


def test_validate_bad_file_json_reports_issues(bad_cidr_plan: Path) -> None:
    result = run_cli("validate", str(bad_cidr_plan), "--output", "json")
    assert result.code == 1
    document = json.loads(result.out)
    assert document["valid"] is False
    assert document["plans"] == []
    [issue] = document["issues"]
    assert issue["file"] == str(bad_cidr_plan)
    assert issue["line"] == line_of(bad_cidr_plan.read_text(), "cidr: 10.10.0.0/33")
    assert issue["path"] == "network.cidr"
    assert "not a valid netmask" in issue["problem"]
    assert set(issue) == {"file", "line", "path", "problem", "allowed"}


def test_validate_good_and_bad_files_reports_only_the_bad(plan_dir: Path, bad_cidr_plan: Path) -> None:
    good = plan_dir / "dev.yaml"
    shutil.copy(PLANS / "dev.yaml", good)
    result = run_cli("validate", str(good), str(bad_cidr_plan))
    assert result.code == 1
    assert "1 problem in plan files" in result.err
    assert str(good) + ":" not in result.err


def test_validate_unparseable_file_exits_1_without_traceback(plan_dir: Path) -> None:
    path = plan_dir / "broken.yaml"
    path.write_text("kind: environment\nnetwork: [a, b\n")
    result = run_cli("validate", str(path))
    assert result.code == 1
    assert f"{path}:" in result.err and "not valid YAML" in result.err
    assert "Traceback" not in result.err


def test_validate_overlapping_environment_vpcs_is_refused(plan_dir: Path) -> None:
    shutil.copy(PLANS / "dev.yaml", plan_dir / "dev.yaml")
    (plan_dir / "staging.yaml").write_text(shipped("staging").replace("10.20.", "10.10."))
    result = run_cli("validate", "--plans-dir", str(plan_dir))
    assert result.code == 1
    assert f"{plan_dir / 'staging.yaml'}: network.cidr: 10.10.0.0/16 overlaps plan dev's 10.10.0.0/16" in result.err


def test_validate_unknown_plan_name_exits_1() -> None:
    result = run_cli("validate", "--plans-dir", str(PLANS), "qa")
    assert result.code == 1
    assert "no plan named 'qa'" in result.err
    assert "(allowed: one of: dev, organization, prod, shared, staging)" in result.err


def test_validate_empty_plans_dir_exits_1(tmp_path: Path) -> None:
    result = run_cli("validate", "--plans-dir", str(tmp_path))
    assert result.code == 1
    assert "error: no plan files found" in result.err


def test_validate_bad_plan_makes_no_network_connection(bad_cidr_plan: Path, no_network: list[object]) -> None:
    # Sanity: the guard really blocks connections.
    with pytest.raises(OSError, match="forbids network access"):
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    no_network.clear()
    result = run_cli("validate", str(bad_cidr_plan))
    assert result.code == 1
    assert "Nothing was sent to AWS." in result.err
    assert "Traceback" not in result.err and "forbids network access" not in result.err
    assert no_network == []


def test_validate_shipped_plans_makes_no_network_connection(no_network: list[object]) -> None:
    result = run_cli("validate", "--plans-dir", str(PLANS))
    assert result.code == 0, result.err
    assert no_network == []


def test_validate_invalid_organization_reports_each_issue_once(tmp_path: Path) -> None:
    plans = tmp_path / "plans"
    shutil.copytree(PLANS, plans)
    org = plans / "organization.yaml"
    org.write_text(mutate(shipped("organization"), "region: us-east-1\n", "region: us-east-1\nbogus: 1\n"))
    result = run_cli("validate", "--plans-dir", str(plans), "--output", "json")
    assert result.code == 1
    issues = json.loads(result.out)["issues"]
    keys = [(i["file"], i["line"], i["path"], i["problem"]) for i in issues]
    assert len(keys) == len(set(keys)), keys


# ------------------------------------------------------------------------------------ schema


def _schema() -> dict:
    result = run_cli("schema")
    assert result.code == 0
    return json.loads(result.out)


def test_schema_prints_one_of_three_plan_kinds() -> None:
    schema = _schema()
    refs = [variant["$ref"] for variant in schema["oneOf"]]
    assert refs == ["#/$defs/EnvironmentPlan", "#/$defs/OrganizationPlan", "#/$defs/SharedPlan"]
    for ref in refs:
        assert ref.removeprefix("#/$defs/") in schema["$defs"]


def test_schema_environment_plan_requires_network_and_forbids_extras() -> None:
    environment = _schema()["$defs"]["EnvironmentPlan"]
    assert {"kind", "account", "region", "network", "eks", "database", "karpenter"} <= set(environment["required"])
    assert environment["properties"]["kind"]["const"] == "environment"
    assert environment["additionalProperties"] is False


@pytest.mark.parametrize("name", SHIPPED)
def test_schema_accepts_shipped_plan(name: str) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    data = yaml.safe_load(shipped(name))
    jsonschema.Draft202012Validator(_schema()).validate(data)


def test_schema_rejects_plan_without_network() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    data = yaml.safe_load(shipped("dev"))
    del data["network"]
    errors = list(jsonschema.Draft202012Validator(_schema()).iter_errors(data))
    assert errors
