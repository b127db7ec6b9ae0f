"""provisioner.kube.client against a sandbox EKS cluster's API (the emulator)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioner.kube import client as kube
from provisioner.sandbox import kube_emulator

CRDS = Path(__file__).resolve().parents[2].parent / "shared" / "karpenter-crds" / "v1.14.1"

# Stand-in for the upstream EC2NodeClass CRD when ../shared/karpenter-crds is absent:
# cluster-scoped, with a schema strict enough to refuse unknown fields.
STAND_IN_EC2NODECLASS_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "ec2nodeclasses.karpenter.k8s.aws"},
    "spec": {
        "group": "karpenter.k8s.aws",
        "names": {"kind": "EC2NodeClass", "plural": "ec2nodeclasses", "singular": "ec2nodeclass"},
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
                            "spec": {
                                "type": "object",
                                "required": ["role"],
                                "properties": {
                                    "role": {"type": "string", "maxLength": 64},
                                    "amiSelectorTerms": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {"alias": {"type": "string"}},
                                        },
                                    },
                                    "metadataOptions": {
                                        "type": "object",
                                        "properties": {
                                            "httpTokens": {
                                                "type": "string",
                                                "enum": ["required", "optional"],
                                            },
                                            "httpPutResponseHopLimit": {
                                                "type": "integer",
                                                "minimum": 1,
                                                "maximum": 64,
                                            },
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


def ec2nodeclass_crd() -> dict[str, Any]:
    path = CRDS / "karpenter.k8s.aws_ec2nodeclasses.yaml"
    if path.exists():
        return yaml.safe_load(path.read_text())
    return json.loads(json.dumps(STAND_IN_EC2NODECLASS_CRD))


def nodeclass(name: str = "default", hop_limit: int = 1, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "karpenter.k8s.aws/v1",
        "kind": "EC2NodeClass",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "role": "KarpenterNodeRole-dev-eks",
            "amiSelectorTerms": [{"alias": "al2023@latest"}],
            "subnetSelectorTerms": [{"tags": {"karpenter.sh/discovery": "dev-eks"}}],
            "securityGroupSelectorTerms": [{"tags": {"karpenter.sh/discovery": "dev-eks"}}],
            "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": hop_limit},
        },
    }


@pytest.fixture
def with_crd(api: Any) -> Any:
    kube.server_side_apply(api, ec2nodeclass_crd())
    return api


def test_list_namespaces_through_the_helpers(api: Any) -> None:
    names = {ns["metadata"]["name"] for ns in kube.list_objects(api, "v1", "Namespace")}
    assert names == {"default", "kube-system", "kube-public", "kube-node-lease"}


def test_server_side_apply_creates_then_updates_and_returns_the_object(with_crd: Any) -> None:
    created = kube.server_side_apply(with_crd, nodeclass())
    assert created["kind"] == "EC2NodeClass" and created["metadata"]["uid"]
    assert created["metadata"]["generation"] == 1

    updated = kube.server_side_apply(with_crd, nodeclass(hop_limit=2))
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]
    assert updated["metadata"]["generation"] == 2
    assert updated["spec"]["metadataOptions"]["httpPutResponseHopLimit"] == 2
    assert kube.get(with_crd, "karpenter.k8s.aws/v1", "EC2NodeClass", "default") == updated


def test_server_side_apply_of_builtin_namespaced_kinds(api: Any) -> None:
    kube.server_side_apply(api, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "karpenter"}})
    cm = kube.server_side_apply(
        api,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": "karpenter"},
            "data": {"batchMaxDuration": "10s"},
        },
    )
    assert cm["metadata"]["namespace"] == "karpenter"
    assert kube.get(api, "v1", "ConfigMap", "settings", "karpenter")["data"] == {"batchMaxDuration": "10s"}
    assert kube.get(api, "v1", "ConfigMap", "settings", "default") is None


def test_server_side_apply_refuses_unknown_and_invalid_fields(with_crd: Any) -> None:
    typo = nodeclass()
    typo["spec"]["metadataOption"] = {"httpTokens": "required"}
    with pytest.raises(kube.KubeApiError) as unknown:
        kube.server_side_apply(with_crd, typo)
    assert unknown.value.status == 400 and "metadataOption" in unknown.value.message

    with pytest.raises(kube.KubeApiError) as invalid:
        kube.server_side_apply(with_crd, nodeclass(hop_limit=0))
    assert (invalid.value.status, invalid.value.reason) == (422, "Invalid")


def test_server_side_apply_of_a_kind_without_crd_is_a_404_error(api: Any) -> None:
    with pytest.raises(kube.KubeApiError) as missing:
        kube.server_side_apply(api, nodeclass())
    assert missing.value.not_found


def test_list_objects_filters_by_label_and_follows_pages(with_crd: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kube, "LIST_PAGE_SIZE", 2)
    for index in range(5):
        kube.server_side_apply(with_crd, nodeclass(f"nc-{index}", team="a" if index % 2 else "b"))
    everything = kube.list_objects(with_crd, "karpenter.k8s.aws/v1", "EC2NodeClass")
    assert [o["metadata"]["name"] for o in everything] == [f"nc-{i}" for i in range(5)]
    team_a = kube.list_objects(with_crd, "karpenter.k8s.aws/v1", "EC2NodeClass", label_selector="team=a")
    assert [o["metadata"]["name"] for o in team_a] == ["nc-1", "nc-3"]


def test_get_and_delete_treat_absence_as_not_there(with_crd: Any) -> None:
    assert kube.get(with_crd, "karpenter.k8s.aws/v1", "EC2NodeClass", "default") is None
    assert kube.delete(with_crd, "karpenter.k8s.aws/v1", "EC2NodeClass", "default") is False
    # A kind the cluster does not serve: nothing to get, list or delete.
    assert kube.get(with_crd, "karpenter.sh/v1", "NodeClaim", "x") is None
    assert kube.list_objects(with_crd, "karpenter.sh/v1", "NodeClaim") == []
    assert kube.delete(with_crd, "karpenter.sh/v1", "NodeClaim", "x") is False

    kube.server_side_apply(with_crd, nodeclass())
    assert kube.delete(with_crd, "karpenter.k8s.aws/v1", "EC2NodeClass", "default") is True
    assert kube.get(with_crd, "karpenter.k8s.aws/v1", "EC2NodeClass", "default") is None


def test_discovery_sees_a_crd_created_after_the_first_lookup(api: Any) -> None:
    assert kube.list_objects(api, "karpenter.k8s.aws/v1", "EC2NodeClass") == []
    kube.server_side_apply(api, ec2nodeclass_crd())
    kube.server_side_apply(api, nodeclass())
    assert len(kube.list_objects(api, "karpenter.k8s.aws/v1", "EC2NodeClass")) == 1


def test_client_trusts_only_the_cluster_ca(endpoint: tuple[str, str], session_for: Any) -> None:
    from provisioner.aws.eks_token import eks_token

    _, other_ca = kube_emulator.endpoint_for("123456789012", "us-east-1", "other-eks")
    client = kube.api_client(endpoint[0], other_ca, eks_token(session_for(), "dev-eks"))
    with pytest.raises(kube.KubeApiError) as failed:
        kube.get(client, "v1", "Namespace", "default")
    assert failed.value.status == 0


def test_a_bad_token_is_an_unauthorized_error(endpoint: tuple[str, str]) -> None:
    client = kube.api_client(endpoint[0], endpoint[1], "k8s-aws-v1.bm90LWEtdG9rZW4")
    with pytest.raises(kube.KubeApiError) as refused:
        kube.list_objects(client, "v1", "Namespace")
    assert (refused.value.status, refused.value.reason) == (401, "Unauthorized")
    assert "bm90LWEtdG9rZW4" not in str(refused.value)


def test_a_token_callable_is_refreshed_when_old(
    endpoint: tuple[str, str], session_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from provisioner.aws.eks_token import eks_token

    made: list[str] = []

    def make() -> str:
        made.append(eks_token(session_for(), "dev-eks"))
        return made[-1]

    client = kube.api_client(endpoint[0], endpoint[1], make)
    kube.get(client, "v1", "Namespace", "default")
    kube.get(client, "v1", "Namespace", "default")
    assert len(made) == 1
    monkeypatch.setattr(kube, "TOKEN_REFRESH_SECONDS", -1)
    kube.get(client, "v1", "Namespace", "default")
    assert len(made) == 2
