"""CLI conventions: usage errors exit 1 with a suggestion, per-command help, credential errors
that say what to do next, `--sandbox` independent of AWS_PROFILE, `manifests` offline."""

from __future__ import annotations

import io
import json
import urllib.request

import pytest
from botocore.exceptions import ClientError

from provisioner.cli import main
from tests.conftest import PLANS


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def requests(url: str) -> int:
    with urllib.request.urlopen(url + "/_sandbox/stats", timeout=5) as response:
        return int(json.loads(response.read())["requests"])


def test_unknown_flag_exits_1_not_the_changes_code_and_suggests_the_closest(aws, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws)
    before = requests(aws)
    code, _out, err = run("plan", "dev", "--detailed-exitcode", "--bogus")
    assert code == 1  # 2 is `--detailed-exitcode`'s "there are changes"
    assert "unrecognized arguments: --bogus" in err
    code, _, err = run("plan", "dev", "--detailed-exitcod", "--sandbx")
    assert code == 1 and "did you mean `--sandbox`" in err
    assert requests(aws) == before  # nothing was sent


def test_unknown_command_and_missing_argument_exit_1(home) -> None:
    code, _, err = run("aply", "dev")
    assert code == 1 and "did you mean `apply`" in err
    code, _, err = run("plan")
    assert code == 1 and "ENV" in err
    assert run("plan", "--help")[0] == 0


def test_each_command_help_lists_only_its_options_and_the_environment(home) -> None:
    code, top, _ = run("--help")
    assert code == 0 and "==SUPPRESS==" not in top and "eks-token" not in top
    _, validate, _ = run("validate", "--help")
    assert "PROVISIONER_HOME" in validate and "AWS_PROFILE" in validate
    validate = validate.split("environment variables:")[0]
    for absent in ("--sandbox", "--profile", "--yes", "--lock-timeout", "--karpenter-crds"):
        assert absent not in validate
    assert "--plans-dir" in validate
    _, history, _ = run("history", "--help")
    history = history.split("environment variables:")[0]
    assert "--sandbox" not in history and "--limit" in history
    _, plan, _ = run("plan", "--help")
    assert "--detailed-exitcode" in plan and "--yes" not in plan and "--lock-timeout" not in plan
    _, apply, _ = run("apply", "--help")
    assert "--yes" in apply and "--detailed-exitcode" not in apply
    _, manifests, _ = run("manifests", "--help")
    manifests = manifests.split("environment variables:")[0]
    assert "--live" in manifests and "--output" not in manifests
    # An option that belongs to another command is a usage error, not silently ignored.
    code, _, err = run("validate", "dev", "--sandbox")
    assert (
        code == 1 and "--sandbox is not an option of `validate` (only of apply, check, destroy, kubeconfig, ...)" in err
    )


def test_plan_without_credentials_says_what_to_do_next(home, monkeypatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, _, err = run("plan", "dev", "--plans-dir", str(PLANS))
    assert code == 1
    assert "no AWS credentials found" in err and "next:" in err and "--profile" in err and "--sandbox" in err
    assert "Traceback" not in err


def test_unknown_profile_names_it_and_how_to_list_profiles(home, monkeypatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "stale-profile")
    code, _, err = run("plan", "dev", "--plans-dir", str(PLANS))
    assert code == 1
    assert "'stale-profile'" in err and "aws configure list-profiles" in err and "next:" in err


def test_expired_and_refused_credentials_name_the_next_step() -> None:
    from provisioner.aws.errors import credential_error

    expired = ClientError(
        {"Error": {"Code": "ExpiredToken", "Message": "The security token included in the request is expired"}},
        "GetCallerIdentity",
    )
    error = credential_error(expired)
    assert error is not None and "expired" in error.message and "aws sso login" in (error.hint or "")
    assert credential_error(ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "X")) is None


def test_sandbox_credentials_ignore_a_stale_aws_profile(aws, monkeypatch) -> None:
    from provisioner.aws import AwsSession

    monkeypatch.setenv("AWS_PROFILE", "stale-profile")
    session = AwsSession(
        region="us-east-1", endpoint_url=aws, credentials={"aws_access_key_id": "a", "aws_secret_access_key": "b"}
    )
    assert session.account_id == "123456789012"
    member = session.assume_role("arn:aws:iam::111111111111:role/OrganizationAccountAccessRole", "test")
    assert member.account_id == "111111111111"


def test_sandbox_verbose_says_it_ignores_aws_profile(home, monkeypatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "stale-profile")
    # organization has no cluster: the command stops before any sandbox is started.
    code, _, err = run("kubeconfig", "organization", "--sandbox", "--verbose", "--plans-dir", str(PLANS))
    assert code == 1 and "ignoring AWS_PROFILE=stale-profile" in err


def test_manifests_call_no_aws_without_live(aws, home, monkeypatch, single_account_plans) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws)
    before = requests(aws)
    code, out, err = run("manifests", "dev", "--plans-dir", str(PLANS))
    assert code == 0, err
    assert requests(aws) == before
    assert "does not exist yet" not in out + err and "--live" in out and "kind: NodePool" in out
    code, out, err = run("manifests", "dev", "--live", "--plans-dir", str(single_account_plans))
    assert code == 0, err
    assert requests(aws) > before and "does not exist yet" in err


@pytest.mark.parametrize("argv", [("schema", "--plans-dir", "x"), ("iam-policy", "--plans-dir", str(PLANS))])
def test_commands_keep_accepting_plans_dir(argv, home) -> None:
    assert run(*argv)[0] == 0


def test_plan_and_apply_refuse_a_cidr_overlapping_another_plan_naming_the_applied_file(
    aws, home, monkeypatch, single_account_plans
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws)
    staging = single_account_plans / "staging.yaml"
    dev_cidr = "10.10.0.0/16"
    text = staging.read_text()
    assert "cidr: 10.20.0.0/16" in text
    staging.write_text(text.replace("10.20.", "10.10."))  # the whole layout moved onto dev's range
    before = requests(aws)
    for command in ("plan", "apply"):
        code, _, err = run(
            command, "staging", "--yes" if command == "apply" else "--verbose", "--plans-dir", str(single_account_plans)
        )
        assert code == 1
        assert (
            f"{staging}: network.cidr: 10.10.0.0/16 overlaps plan dev's {dev_cidr} ({single_account_plans / 'dev.yaml'})"
            in err
        )
        assert "Nothing was sent to AWS" in err
    assert requests(aws) == before


def test_plan_destroy_of_a_destroyed_plan_says_absent_not_unchanged(cli) -> None:
    result = cli("plan", "dev", "--destroy", "--output", "json")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["summary"]["delete"] == 0 and document["summary"]["kept"] == 0
    assert document["summary"]["absent"] == len(document["changes"]) - 1  # all but the read-only lookup
    text = cli("plan", "dev", "--destroy").out
    assert f"Plan: 0 to delete, 0 to keep, {document['summary']['absent']} already absent." in text
    assert "unchanged" not in text
