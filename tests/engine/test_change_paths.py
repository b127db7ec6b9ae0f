"""Diffs of nested values show the paths that changed; text shortens long values, JSON keeps
them whole."""

from __future__ import annotations

import copy
import io
import json

from provisioner.cli.render import TEXT_VALUE_LIMIT, render_changes
from provisioner.engine import Action
from provisioner.engine.change import changed_paths
from provisioner.planfile import load_plan
from provisioner.steps import network
from tests.conftest import PLANS
from tests.idempotency import runner

POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": f"s{i}", "Effect": "Allow", "Action": [f"s3:Get{n}" for n in range(40)], "Resource": "*"}
        for i in range(5)
    ],
}


def test_changed_paths_walk_maps_and_lists_of_objects_and_keep_scalar_lists_whole() -> None:
    changed = copy.deepcopy(POLICY)
    changed["Statement"][3]["Action"] = ["s3:GetObject"]
    changed["Statement"].append({"Sid": "new"})
    paths = changed_paths("policy", json.dumps(POLICY), changed)  # a JSON string compares too
    assert paths == [
        ("policy.Statement[3].Action", POLICY["Statement"][3]["Action"], ["s3:GetObject"]),
        ("policy.Statement[5]", None, {"Sid": "new"}),
    ]
    labels = changed_paths("labels", {"app.kubernetes.io/name": "a", "tier": "x"}, {"app.kubernetes.io/name": "b"})
    assert labels == [('labels["app.kubernetes.io/name"]', "a", "b"), ("labels.tier", "x", None)]
    assert changed_paths("cidr", "10.0.0.0/16", "10.1.0.0/16") == [("cidr", "10.0.0.0/16", "10.1.0.0/16")]
    assert changed_paths("manifest", None, {"a": 1}) == [("manifest", None, {"a": 1})]


def test_a_changed_statement_of_a_live_role_policy_prints_its_path_not_the_document(session_for, boto) -> None:
    dev = load_plan("dev", PLANS)
    nodes = network.resources(dev)
    assert runner(dev, session_for(), nodes).apply().status == "ok"
    iam = boto("iam")
    name = iam.list_role_policies(RoleName="dev-vpc-flow-logs")["PolicyNames"][0]
    document = iam.get_role_policy(RoleName="dev-vpc-flow-logs", PolicyName=name)["PolicyDocument"]
    drifted = copy.deepcopy(document)
    drifted["Statement"][0]["Action"] = [*drifted["Statement"][0]["Action"], *(f"logs:Extra{n}" for n in range(300))]
    iam.put_role_policy(RoleName="dev-vpc-flow-logs", PolicyName=name, PolicyDocument=json.dumps(drifted))

    changeset = runner(dev, session_for(), nodes).plan()
    change = changeset.by_key()["network/flow-logs/role"]
    assert change.action is Action.UPDATE
    out = io.StringIO()
    render_changes(changeset, out, verbose=False)
    lines = [line for line in out.getvalue().splitlines() if "inline_policies" in line]
    assert (
        lines == [line for line in lines if f"inline_policies.{name}.Statement[0].Action: " in line] and len(lines) == 1
    )
    assert max(len(line) for line in out.getvalue().splitlines()) < 2 * TEXT_VALUE_LIMIT + 80
    assert "characters)" in lines[0]
    # JSON keeps the full values.
    full = change.as_dict()["diff"]["inline_policies"]["from"][name]["Statement"][0]["Action"]
    assert len(full) == len(drifted["Statement"][0]["Action"])
