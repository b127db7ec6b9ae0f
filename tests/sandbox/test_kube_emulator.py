"""The sandbox's Kubernetes API emulator, reached as a real EKS endpoint is: HTTPS with the
cluster's CA, and a bearer token presigned with the production AwsSession against moto."""

from __future__ import annotations

import base64
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import dynamic, watch

from provisioner.aws.eks_token import eks_token
from provisioner.kube.client import api_client
from provisioner.sandbox import kube_emulator
from provisioner.sandbox.kube import auth

ACCOUNT, REGION, CLUSTER = "123456789012", "us-east-1", "dev-eks"
CRDS = Path(__file__).resolve().parents[2].parent / "shared" / "karpenter-crds" / "v1.14.1"

# Used when ../shared/karpenter-crds is absent: just enough of Karpenter's NodePool CRD
# (cluster-scoped, status subresource, a default, an enum) to exercise the same paths.
STAND_IN_NODEPOOL_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "nodepools.karpenter.sh"},
    "spec": {
        "group": "karpenter.sh",
        "names": {
            "kind": "NodePool",
            "listKind": "NodePoolList",
            "plural": "nodepools",
            "singular": "nodepool",
            "categories": ["karpenter"],
        },
        "scope": "Cluster",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "apiVersion": {"type": "string"},
                            "kind": {"type": "string"},
                            "metadata": {"type": "object"},
                            "spec": {
                                "type": "object",
                                "required": ["template"],
                                "properties": {
                                    "disruption": {
                                        "type": "object",
                                        "default": {"consolidateAfter": "0s"},
                                        "required": ["consolidateAfter"],
                                        "properties": {
                                            "consolidateAfter": {"type": "string"},
                                            "consolidationPolicy": {
                                                "type": "string",
                                                "enum": ["WhenEmpty", "WhenEmptyOrUnderutilized"],
                                            },
                                        },
                                    },
                                    "limits": {
                                        "type": "object",
                                        "additionalProperties": {
                                            "x-kubernetes-int-or-string": True,
                                            "anyOf": [{"type": "integer"}, {"type": "string"}],
                                        },
                                    },
                                    "template": {
                                        "type": "object",
                                        "properties": {
                                            "spec": {
                                                "type": "object",
                                                "properties": {
                                                    "nodeClassRef": {
                                                        "type": "object",
                                                        "properties": {
                                                            "group": {"type": "string"},
                                                            "kind": {"type": "string"},
                                                            "name": {"type": "string"},
                                                        },
                                                    },
                                                    "requirements": {
                                                        "type": "array",
                                                        "items": {
                                                            "type": "object",
                                                            "properties": {
                                                                "key": {"type": "string"},
                                                                "operator": {
                                                                    "type": "string",
                                                                    "enum": [
                                                                        "In",
                                                                        "NotIn",
                                                                        "Exists",
                                                                        "DoesNotExist",
                                                                    ],
                                                                },
                                                                "values": {
                                                                    "type": "array",
                                                                    "items": {"type": "string"},
                                                                },
                                                            },
                                                        },
                                                    },
                                                },
                                            }
                                        },
                                    },
                                },
                            },
                            "status": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            },
                        },
                    }
                },
            }
        ],
    },
}


def nodepool_crd() -> dict[str, Any]:
    path = CRDS / "karpenter.sh_nodepools.yaml"
    if path.exists():
        return yaml.safe_load(path.read_text())
    return json.loads(json.dumps(STAND_IN_NODEPOOL_CRD))


def nodepool(name: str = "general-amd64", cpu: str = "100", arch: str = "amd64") -> dict[str, Any]:
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": name, "labels": {"platform/arch": arch}},
        "spec": {
            "template": {
                "spec": {
                    "nodeClassRef": {
                        "group": "karpenter.k8s.aws",
                        "kind": "EC2NodeClass",
                        "name": "default",
                    },
                    "requirements": [{"key": "kubernetes.io/arch", "operator": "In", "values": [arch]}],
                }
            },
            "limits": {"cpu": cpu},
            "disruption": {
                "consolidationPolicy": "WhenEmptyOrUnderutilized",
                "consolidateAfter": "1m",
            },
        },
    }


@pytest.fixture
def endpoint(aws: str) -> Iterator[tuple[str, str]]:
    # After `aws`: resetting the simulated AWS stops every cluster's emulator, as deleting
    # the clusters would.
    try:
        yield kube_emulator.endpoint_for(ACCOUNT, REGION, CLUSTER)
    finally:
        kube_emulator.reset()


@pytest.fixture
def token(session_for: Any) -> str:
    return eks_token(session_for(REGION), CLUSTER)


@pytest.fixture
def api(endpoint: tuple[str, str], token: str) -> Iterator[Any]:
    client = api_client(endpoint[0], endpoint[1], token)
    try:
        yield client
    finally:
        client.close()


def raw(
    api: Any,
    method: str,
    path: str,
    body: Any = None,
    *,
    query: list[tuple[str, str]] | None = None,
    content_type: str = "application/json",
    token: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """One request through the client's transport; returns (status, JSON body), never raises."""
    headers = {"Accept": "application/json", "Content-Type": content_type}
    request = api.param_serialize(
        method=method,
        resource_path=path,
        query_params=query or [],
        header_params=headers,
        body=body,
        auth_settings=[] if token is not None else ["BearerToken"],
    )
    if token is not None:
        request[2]["Authorization"] = f"Bearer {token}" if token else ""
    response = api.call_api(*request)
    data = response.read()
    return response.status, json.loads(data) if data else {}


def apply(api: Any, manifest: dict[str, Any], manager: str = "provisioner") -> tuple[int, dict[str, Any]]:
    path = "/apis/karpenter.sh/v1/nodepools/" + manifest["metadata"]["name"]
    return raw(
        api,
        "PATCH",
        path,
        manifest,
        query=[("fieldManager", manager), ("force", "true")],
        content_type="application/apply-patch+yaml",
    )


# --- endpoint lifecycle -------------------------------------------------------------------


def test_endpoint_for_is_idempotent_https_on_loopback_with_cluster_ca(
    endpoint: tuple[str, str],
) -> None:
    url, ca = endpoint
    assert urllib.parse.urlsplit(url).scheme == "https"
    assert urllib.parse.urlsplit(url).hostname == "127.0.0.1"
    assert base64.b64decode(ca).startswith(b"-----BEGIN CERTIFICATE-----")
    assert kube_emulator.endpoint_for(ACCOUNT, REGION, CLUSTER) == endpoint

    other = kube_emulator.endpoint_for(ACCOUNT, REGION, "other-eks")
    assert other[0] != url and other[1] != ca


def test_endpoint_for_is_thread_safe() -> None:
    results: list[tuple[str, str]] = []
    try:
        threads = [
            threading.Thread(target=lambda: results.append(kube_emulator.endpoint_for(ACCOUNT, REGION, "racy-eks")))
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(set(results)) == 1
    finally:
        kube_emulator.reset()


def test_remove_stops_the_server_and_a_new_one_starts_empty(endpoint: tuple[str, str], token: str) -> None:
    port = urllib.parse.urlsplit(endpoint[0]).port
    assert kube_emulator.remove(ACCOUNT, REGION, CLUSTER) is True
    assert kube_emulator.remove(ACCOUNT, REGION, CLUSTER) is False
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    assert kube_emulator.endpoint_for(ACCOUNT, REGION, CLUSTER) != endpoint


def test_tls_rejects_a_client_trusting_another_ca(endpoint: tuple[str, str]) -> None:
    _, other_ca = kube_emulator.endpoint_for(ACCOUNT, REGION, "other-eks")
    context = ssl.create_default_context(cadata=base64.b64decode(other_ca).decode())
    port = urllib.parse.urlsplit(endpoint[0]).port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        with pytest.raises(ssl.SSLCertVerificationError):
            context.wrap_socket(sock, server_hostname="127.0.0.1")


# --- authentication -----------------------------------------------------------------------


def test_list_namespaces_with_an_sts_token(api: Any) -> None:
    names = {ns.metadata.name for ns in k8s.CoreV1Api(api).list_namespace().items}
    assert names == {"default", "kube-system", "kube-public", "kube-node-lease"}


@pytest.mark.parametrize(
    "bad_token",
    [
        "",
        "garbage",
        "k8s-aws-v1.!!!not-base64!!!",
        "k8s-aws-v1." + base64.urlsafe_b64encode(b"https://evil.example/").decode(),
    ],
)
def test_missing_or_garbled_token_is_401(api: Any, bad_token: str) -> None:
    status, body = raw(api, "GET", "/api/v1/namespaces", token=bad_token)
    assert status == 401
    assert body["kind"] == "Status" and body["reason"] == "Unauthorized"


def test_token_for_another_cluster_is_401(api: Any, session_for: Any) -> None:
    status, body = raw(api, "GET", "/api/v1/namespaces", token=eks_token(session_for(REGION), "other-eks"))
    assert (status, body["code"]) == (401, 401)


def test_tampered_token_is_401(api: Any, token: str) -> None:
    url = base64.urlsafe_b64decode(token[len("k8s-aws-v1.") :] + "==").decode()
    tampered = url.replace("Action=GetCallerIdentity", "Action=GetCallerIdentity&Extra=1")
    forged = "k8s-aws-v1." + base64.urlsafe_b64encode(tampered.encode()).decode().rstrip("=")
    assert raw(api, "GET", "/api/v1/namespaces", token=forged)[0] == 401


def test_version_and_health_need_no_token_as_on_eks(api: Any) -> None:
    status, body = raw(api, "GET", "/version", token="")
    assert status == 200 and body["major"] == "1"


def test_token_expires_15_minutes_after_its_date_whatever_x_amz_expires_says(token: str) -> None:
    url = base64.urlsafe_b64decode(token[len("k8s-aws-v1.") :] + "==").decode()
    signed = (
        time.mktime(
            time.strptime(
                urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["X-Amz-Date"][0],
                "%Y%m%dT%H%M%SZ",
            )
        )
        - time.timezone
    )
    resolve = kube_emulator.resolve_secret
    # Past the 60 s presign validity: still accepted, as EKS does.
    auth.verify_token(token, CLUSTER, resolve_secret=resolve, now=signed + 14 * 60)
    with pytest.raises(auth.TokenError, match="expired"):
        auth.verify_token(token, CLUSTER, resolve_secret=resolve, now=signed + 16 * 60)


def test_x_amz_expires_beyond_15_minutes_is_refused(token: str) -> None:
    url = base64.urlsafe_b64decode(token[len("k8s-aws-v1.") :] + "==").decode()
    longer = "k8s-aws-v1." + base64.urlsafe_b64encode(
        url.replace("X-Amz-Expires=60", "X-Amz-Expires=901").encode()
    ).decode().rstrip("=")
    with pytest.raises(auth.TokenError, match="out of range"):
        auth.verify_token(longer, CLUSTER, resolve_secret=kube_emulator.resolve_secret)


def test_unknown_access_key_follows_the_unverifiable_policy(
    api: Any, aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from provisioner.aws import AwsSession

    stranger = AwsSession(
        region=REGION,
        endpoint_url=aws,
        credentials={
            "aws_access_key_id": "AKIASTRANGER",
            "aws_secret_access_key": "not-known-here",
        },
    )
    stranger_token = eks_token(stranger, CLUSTER)
    monkeypatch.setattr(kube_emulator, "ALLOW_UNVERIFIABLE_TOKENS", False)
    assert raw(api, "GET", "/api/v1/namespaces", token=stranger_token)[0] == 401
    monkeypatch.setattr(kube_emulator, "ALLOW_UNVERIFIABLE_TOKENS", True)
    assert raw(api, "GET", "/api/v1/namespaces", token=stranger_token)[0] == 200
    # With a resolver that knows the key, the signature binds it to the cluster again.
    monkeypatch.setattr(kube_emulator, "CREDENTIAL_RESOLVER", {"AKIASTRANGER": "not-known-here"}.get)
    assert raw(api, "GET", "/api/v1/namespaces", token=stranger_token)[0] == 200
    assert raw(api, "GET", "/api/v1/namespaces", token=eks_token(stranger, "other-eks"))[0] == 401


# --- namespaces and built-in kinds --------------------------------------------------------


def test_namespace_create_get_list_delete(api: Any) -> None:
    core = k8s.CoreV1Api(api)
    created = core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name="karpenter")))
    assert created.status.phase == "Active" and created.metadata.uid
    assert core.read_namespace("karpenter").metadata.labels["kubernetes.io/metadata.name"] == "karpenter"
    assert core.read_namespaced_service_account("default", "karpenter").metadata.name == "default"
    core.create_namespaced_config_map("karpenter", k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="c")))

    core.delete_namespace("karpenter")
    assert "karpenter" not in {ns.metadata.name for ns in core.list_namespace().items}
    with pytest.raises(k8s.ApiException) as missing:
        core.read_namespaced_config_map("c", "karpenter")
    assert missing.value.status == 404


def test_errors_are_status_objects_with_kubernetes_reasons(api: Any) -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "dup"}}
    assert raw(api, "POST", "/api/v1/namespaces", ns)[0] == 201
    cases = [
        (raw(api, "POST", "/api/v1/namespaces", ns), 409, "AlreadyExists"),
        (raw(api, "GET", "/api/v1/namespaces/nope"), 404, "NotFound"),
        (
            raw(api, "POST", "/api/v1/namespaces", {"metadata": {"name": "Bad_Name"}}),
            422,
            "Invalid",
        ),
        (
            raw(api, "POST", "/api/v1/namespaces/nope/configmaps", {"metadata": {"name": "c"}}),
            404,
            "NotFound",
        ),
        (raw(api, "DELETE", "/api/v1/namespaces/default"), 403, "Forbidden"),
        (
            raw(
                api,
                "PUT",
                "/api/v1/namespaces/dup",
                {**ns, "metadata": {"name": "dup", "resourceVersion": "1"}},
            ),
            409,
            "Conflict",
        ),
    ]
    for (status, body), code, reason in cases:
        assert (status, body["kind"], body["code"], body["reason"]) == (
            code,
            "Status",
            code,
            reason,
        ), body


def test_builtin_kinds_round_trip(api: Any) -> None:
    core, rbac = k8s.CoreV1Api(api), k8s.RbacAuthorizationV1Api(api)
    meta = k8s.V1ObjectMeta(name="karpenter", namespace="kube-system", labels={"app": "karpenter"})
    core.create_namespaced_service_account("kube-system", k8s.V1ServiceAccount(metadata=meta))
    service = core.create_namespaced_service(
        "kube-system",
        k8s.V1Service(
            metadata=meta,
            spec=k8s.V1ServiceSpec(ports=[k8s.V1ServicePort(port=8080)], selector={"app": "karpenter"}),
        ),
    )
    assert service.spec.cluster_ip
    core.create_namespaced_config_map("kube-system", k8s.V1ConfigMap(metadata=meta, data={"a": "1"}))
    assert core.patch_namespaced_config_map("karpenter", "kube-system", {"data": {"b": "2"}}).data == {
        "a": "1",
        "b": "2",
    }
    rbac.create_cluster_role(
        k8s.V1ClusterRole(
            metadata=k8s.V1ObjectMeta(name="karpenter:core"),
            rules=[k8s.V1PolicyRule(api_groups=["karpenter.sh"], resources=["nodepools"], verbs=["get", "list"])],
        )
    )
    rbac.create_cluster_role_binding(
        k8s.V1ClusterRoleBinding(
            metadata=k8s.V1ObjectMeta(name="karpenter"),
            role_ref=k8s.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="karpenter:core"),
            subjects=[k8s.RbacV1Subject(kind="ServiceAccount", name="karpenter", namespace="kube-system")],
        )
    )
    k8s.PolicyV1Api(api).create_namespaced_pod_disruption_budget(
        "kube-system",
        k8s.V1PodDisruptionBudget(
            metadata=meta,
            spec=k8s.V1PodDisruptionBudgetSpec(
                max_unavailable=1, selector=k8s.V1LabelSelector(match_labels={"app": "karpenter"})
            ),
        ),
    )
    assert rbac.read_cluster_role("karpenter:core").rules[0].resources == ["nodepools"]
    assert [
        p.metadata.name
        for p in k8s.PolicyV1Api(api)
        .list_namespaced_pod_disruption_budget("kube-system", label_selector="app=karpenter")
        .items
    ] == ["karpenter"]


# --- Deployments --------------------------------------------------------------------------


def _deployment(replicas: int = 2) -> k8s.V1Deployment:
    labels = {"app.kubernetes.io/name": "karpenter"}
    return k8s.V1Deployment(
        metadata=k8s.V1ObjectMeta(name="karpenter", namespace="kube-system"),
        spec=k8s.V1DeploymentSpec(
            replicas=replicas,
            selector=k8s.V1LabelSelector(match_labels=labels),
            template=k8s.V1PodTemplateSpec(
                metadata=k8s.V1ObjectMeta(labels=labels),
                spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="controller", image="karpenter:1.14.1")]),
            ),
        ),
    )


def _available(deployment: k8s.V1Deployment) -> bool:
    status = deployment.status
    conditions = {c.type: c.status for c in status.conditions or []}
    return status.available_replicas == deployment.spec.replicas and conditions.get("Available") == "True"


def test_deployment_is_available_at_once_at_latency_scale_zero(api: Any) -> None:
    created = k8s.AppsV1Api(api).create_namespaced_deployment("kube-system", _deployment())
    assert _available(created)
    assert created.status.observed_generation == created.metadata.generation


def test_deployment_rollout_takes_the_scaled_p50(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kube_emulator, "LATENCY_SCALE", 0.1 / kube_emulator.ROLLOUT_P50_SECONDS)  # 0.1 s
    apps = k8s.AppsV1Api(api)
    created = apps.create_namespaced_deployment("kube-system", _deployment())
    assert not _available(created)
    assert {c.type: c.reason for c in created.status.conditions}["Progressing"] == "ReplicaSetUpdated"
    deadline = time.monotonic() + 5
    while not _available(apps.read_namespaced_deployment("karpenter", "kube-system")):
        assert time.monotonic() < deadline, "rollout never finished"
        time.sleep(0.02)


def test_karpenter_objects_become_ready_when_the_controller_is_available(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kube_emulator, "LATENCY_SCALE", 0.1 / kube_emulator.ROLLOUT_P50_SECONDS)  # 0.1 s rollout
    k8s.ApiextensionsV1Api(api).create_custom_resource_definition(nodepool_crd())
    apps = k8s.AppsV1Api(api)
    apps.create_namespaced_deployment("kube-system", _deployment())
    status, created = apply(api, nodepool())
    assert status == 201
    assert [(c["type"], c["status"]) for c in created["status"]["conditions"]] == [("Ready", "Unknown")]
    deadline = time.monotonic() + 5
    while True:
        _, pool = raw(api, "GET", "/apis/karpenter.sh/v1/nodepools/general-amd64")
        if pool["status"]["conditions"][0]["status"] == "True":
            break
        assert time.monotonic() < deadline, "the NodePool never became Ready"
        time.sleep(0.02)


# --- CRDs and custom objects --------------------------------------------------------------


def test_custom_kind_without_crd_is_404(api: Any) -> None:
    status, body = apply(api, nodepool())
    assert (status, body["reason"]) == (404, "NotFound")
    assert raw(api, "GET", "/apis/karpenter.sh/v1/nodepools")[0] == 404


def test_nodepool_server_side_apply_create_update_list_delete(api: Any) -> None:
    assert raw(api, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", nodepool_crd())[0] == 201

    status, created = apply(api, nodepool())
    assert status == 201
    assert created["kind"] == "NodePool" and created["metadata"]["uid"]
    assert created["spec"]["template"]["spec"]["requirements"][0]["operator"] == "In"

    status, updated = apply(api, nodepool(cpu="200"))
    assert status == 200
    assert updated["spec"]["limits"]["cpu"] == "200"
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]
    assert updated["metadata"]["generation"] == 2

    status, again = apply(api, nodepool(cpu="200"))
    assert status == 200 and again["metadata"]["resourceVersion"] == updated["metadata"]["resourceVersion"]

    apply(api, nodepool("general-arm64", arch="arm64"))
    status, listed = raw(
        api,
        "GET",
        "/apis/karpenter.sh/v1/nodepools",
        query=[("labelSelector", "platform/arch in (arm64)")],
    )
    assert status == 200 and listed["kind"] == "NodePoolList"
    assert [item["metadata"]["name"] for item in listed["items"]] == ["general-arm64"]

    assert raw(api, "DELETE", "/apis/karpenter.sh/v1/nodepools/general-amd64")[0] == 200
    assert raw(api, "GET", "/apis/karpenter.sh/v1/nodepools/general-amd64")[0] == 404


def test_custom_objects_are_defaulted_and_validated_against_the_crd_schema(api: Any) -> None:
    raw(api, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", nodepool_crd())
    plain = nodepool("defaulted")
    del plain["spec"]["disruption"]
    status, body = apply(api, plain)
    assert status == 201 and body["spec"]["disruption"]["consolidateAfter"] == "0s"

    bad = nodepool()
    bad["spec"]["template"]["spec"]["requirements"][0]["operator"] = "Within"
    status, body = apply(api, bad)
    assert (status, body["reason"]) == (422, "Invalid")
    assert "operator" in body["message"]

    unknown = nodepool()
    unknown["spec"]["colour"] = "blue"
    status, body = raw(
        api,
        "PATCH",
        "/apis/karpenter.sh/v1/nodepools/general-amd64",
        unknown,
        query=[("fieldManager", "t"), ("fieldValidation", "Strict")],
        content_type="application/apply-patch+yaml",
    )
    assert (status, body["reason"]) == (400, "BadRequest")


def test_deleting_the_crd_removes_its_kind_and_objects(api: Any) -> None:
    raw(api, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", nodepool_crd())
    apply(api, nodepool())
    assert (
        raw(
            api,
            "DELETE",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/nodepools.karpenter.sh",
        )[0]
        == 200
    )
    assert raw(api, "GET", "/apis/karpenter.sh/v1/nodepools")[0] == 404
    raw(api, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", nodepool_crd())
    assert raw(api, "GET", "/apis/karpenter.sh/v1/nodepools")[1]["items"] == []


def test_finalizers_hold_deletion_until_removed(api: Any) -> None:
    raw(api, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", nodepool_crd())
    held = nodepool()
    held["metadata"]["finalizers"] = ["karpenter.sh/termination"]
    apply(api, held)
    status, body = raw(api, "DELETE", "/apis/karpenter.sh/v1/nodepools/general-amd64")
    assert status == 200 and body["metadata"]["deletionTimestamp"]
    assert raw(api, "GET", "/apis/karpenter.sh/v1/nodepools/general-amd64")[0] == 200
    raw(
        api,
        "PATCH",
        "/apis/karpenter.sh/v1/nodepools/general-amd64",
        {"metadata": {"finalizers": None}},
        content_type="application/merge-patch+json",
    )
    assert raw(api, "GET", "/apis/karpenter.sh/v1/nodepools/general-amd64")[0] == 404


def test_dynamic_client_discovers_builtin_and_custom_kinds(api: Any, tmp_path: Path) -> None:
    raw(api, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", nodepool_crd())
    client = dynamic.DynamicClient(api, cache_file=str(tmp_path / "discovery.json"))
    nodepools = client.resources.get(api_version="karpenter.sh/v1", kind="NodePool")
    applied = client.server_side_apply(nodepools, body=nodepool(), field_manager="dynamic", force_conflicts=True)
    assert applied.metadata.name == "general-amd64"
    deployments = client.resources.get(api_version="apps/v1", kind="Deployment")
    assert deployments.namespaced and deployments.name == "deployments"


def test_watch_streams_changes_from_a_resource_version(api: Any) -> None:
    core = k8s.CoreV1Api(api)
    start = core.list_namespaced_config_map("default").metadata.resource_version
    for name in ("a", "b"):
        core.create_namespaced_config_map("default", k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name=name)))
    core.delete_namespaced_config_map("a", "default")
    seen = []
    watcher = watch.Watch()
    for event in watcher.stream(core.list_namespaced_config_map, "default", resource_version=start, timeout_seconds=5):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 3:
            watcher.stop()
    assert seen == [("ADDED", "a"), ("ADDED", "b"), ("DELETED", "a")]


# --- kubectl ------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_get_namespaces(endpoint: tuple[str, str], token: str, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "sandbox",
                "clusters": [
                    {
                        "name": CLUSTER,
                        "cluster": {
                            "server": endpoint[0],
                            "certificate-authority-data": endpoint[1],
                        },
                    }
                ],
                "users": [{"name": "sandbox", "user": {"token": token}}],
                "contexts": [{"name": "sandbox", "context": {"cluster": CLUSTER, "user": "sandbox"}}],
            }
        )
    )
    kubeconfig.chmod(0o600)
    result = subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "get", "namespaces", "-o", "name"],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "HOME": str(tmp_path),
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "KUBECACHEDIR": str(tmp_path / "cache"),
        },
    )
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == {
        "namespace/default",
        "namespace/kube-system",
        "namespace/kube-public",
        "namespace/kube-node-lease",
    }


def test_server_side_apply_accepts_a_yaml_body(api: Any) -> None:
    manifest = yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "from-yaml", "namespace": "default"},
            "data": {"key": "value"},
        }
    )
    status, body = raw(
        api,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/from-yaml",
        manifest,
        query=[("fieldManager", "yaml")],
        content_type="application/apply-patch+yaml",
    )
    assert (status, body["data"]) == (201, {"key": "value"})
