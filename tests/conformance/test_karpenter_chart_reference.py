"""Karpenter in the cluster against the official v1.14.1 Helm chart.

The chart's templates are rendered without helm (tests/conformance/helm.py) from the upstream
files with the chart's own values.yaml, the settings a user must give filled in as the tool
sets them (cluster name, interruption queue, endpoint), release `karpenter` in kube-system.
What the tool installs (manifests.controller_objects) is compared object by object: the same
objects (kind/name/namespace), RBAC rules as sets (a rule added or removed on either side
fails), bindings' roles and subjects, the ServiceAccount's token setting, and the whole spec
of the Deployment, PodDisruptionBudget and Service. Labels and annotations are the tool's own
and not compared. The only differences allowed are `CHART_DIFFERENCES`, applied to
the rendered chart first; a listed difference that is not one fails.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from provisioner.planfile import load_plan
from provisioner.steps.karpenter import manifests
from provisioner.steps.karpenter.chart import CHART_DIFFERENCES, controller_image
from provisioner.steps.karpenter.cluster import inputs_for
from provisioner.steps.karpenter.policies import ABSENT
from tests.conformance import helm
from tests.conformance.reference import CHART, require_reference, substitute
from tests.conftest import PLANS

REGION = "eu-west-1"
ENDPOINT = "https://0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com"
DEV = load_plan("dev", PLANS)
INPUTS = inputs_for(DEV, REGION, ENDPOINT)
PARAMS = {"Region": REGION, "Image": controller_image(INPUTS.version)}
MISSING = object()


@pytest.fixture(scope="module")
def chart() -> dict[str, dict[str, Any]]:
    require_reference()
    helm.check_helpers(CHART)
    values = helm.values(
        CHART, clusterName=INPUTS.cluster_name, interruptionQueue=INPUTS.queue_name, clusterEndpoint=ENDPOINT
    )
    objects: dict[str, dict[str, Any]] = {}
    # servicemonitor.yaml renders nothing with the chart's defaults (serviceMonitor.enabled
    # is false) and needs helm's .Capabilities, so it is not rendered.
    assert values["serviceMonitor"]["enabled"] is False
    for path in sorted((CHART / "templates").glob("*.yaml")):
        if path.name == "servicemonitor.yaml":
            continue
        for obj in helm.render(CHART, path.name, copy.deepcopy(values), namespace=INPUTS.namespace):
            objects[f"{obj['kind']}/{obj['metadata']['name']}"] = obj
    return objects


def ours() -> dict[str, dict[str, Any]]:
    return {f"{obj['kind']}/{obj['metadata']['name']}": obj for _, obj in manifests.controller_objects(INPUTS)}


def _rule(rule: dict[str, Any]) -> tuple[Any, ...]:
    return tuple((k, tuple(sorted(rule[k]))) for k in sorted(rule))


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def view(obj: dict[str, Any]) -> dict[str, Any]:
    """What is compared of an object (see the module docstring)."""
    out: dict[str, Any] = {"namespace": obj["metadata"].get("namespace")}
    if obj["kind"] in ("ClusterRole", "Role"):
        out["rules"] = sorted(_rule(r) for r in obj.get("rules") or [])
    elif obj["kind"] in ("ClusterRoleBinding", "RoleBinding"):
        out.update(roleRef=obj["roleRef"], subjects=obj["subjects"])
    elif obj["kind"] == "ServiceAccount":
        out["automountServiceAccountToken"] = obj.get("automountServiceAccountToken", MISSING)
    else:
        spec = _clean(copy.deepcopy(obj["spec"]))
        for container in spec.get("template", {}).get("spec", {}).get("containers", []):
            container["env"] = {e["name"]: e for e in container.get("env", [])}
        out["spec"] = spec
    return out


def _apply(name: str, doc: dict[str, Any]) -> dict[str, Any]:
    patched = copy.deepcopy(doc)
    for difference in CHART_DIFFERENCES:
        if difference.resource != name or not difference.path:
            continue
        *parents, last = difference.path
        node: Any = patched
        for step in parents:
            node = node[step]
        value = substitute(difference.ours, PARAMS)
        before = node[last] if (isinstance(node, dict) and last in node) else ABSENT
        assert before != value, f"listed difference {name} {difference.path} is not a difference"
        if value == ABSENT:
            del node[last]
        else:
            node[last] = value
    return patched


def test_the_same_objects_as_the_chart(chart: dict[str, dict[str, Any]]) -> None:
    left_out = {d.resource for d in CHART_DIFFERENCES if not d.path and d.ours == ABSENT}
    assert left_out <= set(chart), "a listed difference names no chart object"
    expected = set(chart) - left_out
    assert sorted(ours()) == sorted(expected)


def test_rbac_grants_exactly_what_the_chart_grants(chart: dict[str, dict[str, Any]]) -> None:
    mine = ours()
    for name, obj in chart.items():
        if obj["kind"] in ("ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding") and name in mine:
            want, have = view(obj), view(mine[name])
            if "rules" in want:
                added = set(have["rules"]) - set(want["rules"])
                removed = set(want["rules"]) - set(have["rules"])
                assert not added and not removed, f"{name}: rules added {sorted(added)}, removed {sorted(removed)}"
            assert have == want, name


def test_no_rule_reads_secrets_or_configmaps_or_deletes_leases() -> None:
    for obj in ours().values():
        for rule in obj.get("rules") or []:
            assert not {"secrets", "configmaps"} & set(rule["resources"]), obj["metadata"]["name"]
            assert not ("leases" in rule["resources"] and "delete" in rule["verbs"]), obj["metadata"]["name"]
            assert "resource.k8s.io" not in rule["apiGroups"], obj["metadata"]["name"]


@pytest.mark.parametrize(
    "name", ["Deployment/karpenter", "PodDisruptionBudget/karpenter", "Service/karpenter", "ServiceAccount/karpenter"]
)
def test_workload_follows_the_charts_defaults(chart: dict[str, dict[str, Any]], name: str) -> None:
    want = _apply(name, view(chart[name]))
    have = view(ours()[name])
    if "spec" in want and "template" in want["spec"]:
        want_pod, have_pod = want["spec"]["template"]["spec"], have["spec"]["template"]["spec"]
        for field in sorted(set(want_pod) | set(have_pod)):
            assert have_pod.get(field, MISSING) == want_pod.get(field, MISSING), f"{name}: pod spec field {field}"
    assert have == want


def test_controller_image_is_pinned_by_digest_as_the_chart_pins_it(chart: dict[str, dict[str, Any]]) -> None:
    image = helm.values(CHART)["controller"]["image"]
    chart_image = chart["Deployment/karpenter"]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert chart_image == f"{image['repository']}:{image['tag']}@{image['digest']}"
    mine = ours()["Deployment/karpenter"]["spec"]["template"]["spec"]["containers"][0]["image"]
    match = re.fullmatch(r"(.+):([^:@]+)@(sha256:[0-9a-f]{64})", mine)
    assert match, mine
    assert match.group(1) == image["repository"] and match.group(2) == INPUTS.version
    if image["tag"] == INPUTS.version:
        assert match.group(3) == image["digest"]
