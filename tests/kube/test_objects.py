"""Ownership marks, drift comparison and YAML streams of plain Kubernetes objects (no API)."""

from __future__ import annotations

import yaml

from provisioner.kube import objects

MANIFEST = objects.mark(
    {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": "amd64", "labels": {"app.kubernetes.io/name": "karpenter"}},
        "spec": {
            "limits": {"cpu": "32"},
            "weight": 10,
            "template": {
                "spec": {"requirements": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]}
            },
        },
    },
    "dev",
    "karpenter/nodepool/amd64",
)


def live_copy(**spec_changes: object) -> dict:
    """MANIFEST as a server returns it: defaults, status, server metadata, others' labels."""
    live = yaml.safe_load(yaml.safe_dump(MANIFEST))
    live["metadata"].update(uid="u-1", resourceVersion="7", generation=2)
    live["metadata"]["labels"]["team"] = "platform"
    live["spec"]["disruption"] = {"consolidateAfter": "0s", "budgets": [{"nodes": "10%"}]}
    live["spec"]["template"]["spec"]["requirements"][0]["minValues"] = 1
    live["spec"]["template"]["spec"]["expireAfter"] = "720h"
    live["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    live["spec"].update(spec_changes)
    return live


def test_mark_adds_the_ownership_labels_and_key_without_changing_the_input() -> None:
    plain = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "a", "labels": {"x": "y"}}}
    marked = objects.mark(plain, "dev", "karpenter/serviceaccount/a")
    assert marked["metadata"]["labels"] == {
        "x": "y",
        "app.kubernetes.io/managed-by": "provisioner",
        "provisioner.innovate.io/plan": "dev",
    }
    assert objects.key_of(marked) == "karpenter/serviceaccount/a"
    assert "annotations" not in plain["metadata"] and plain["metadata"]["labels"] == {"x": "y"}
    assert (
        objects.owned_by(marked, "dev") and not objects.owned_by(marked, "prod") and not objects.owned_by(plain, "dev")
    )
    assert (
        objects.ownership_selector("dev") == "app.kubernetes.io/managed-by=provisioner,provisioner.innovate.io/plan=dev"
    )


def test_a_live_object_with_server_defaults_and_others_labels_equals_its_manifest() -> None:
    assert objects.observed_fields(live_copy(), MANIFEST) == objects.desired_fields(MANIFEST)


def test_a_changed_leaf_shows_under_its_path() -> None:
    live = live_copy(limits={"cpu": "48"})
    have, want = objects.observed_fields(live, MANIFEST), objects.desired_fields(MANIFEST)
    diff = {k: (have[k], v) for k, v in want.items() if have.get(k) != v}
    assert diff == {"spec.limits.cpu": ("48", "32")}


def test_a_removed_label_and_a_changed_list_show() -> None:
    live = live_copy()
    del live["metadata"]["labels"]["provisioner.innovate.io/plan"]
    live["spec"]["template"]["spec"]["requirements"].append({"key": "x", "operator": "Exists"})
    have = objects.observed_fields(live, MANIFEST)
    assert have['metadata.labels["provisioner.innovate.io/plan"]'] is None
    assert len(have["spec.template.spec.requirements"]) == 2


def test_project_keeps_only_the_manifest_shape() -> None:
    assert objects.project({"a": 1, "b": {"c": 2, "d": 3}}, {"b": {"c": 0}}) == {"b": {"c": 2}}
    assert objects.project([{"a": 1, "z": 0}], [{"a": 5}]) == [{"a": 1}]
    assert objects.project([1, 2], [1]) == [1, 2]  # different length: the live list as it is
    assert objects.project({"a": 1}, {}) == {}


def test_show_path_brackets_keys_with_dots_or_slashes() -> None:
    assert objects.show_path(("spec", "limits", "cpu")) == "spec.limits.cpu"
    assert (
        objects.show_path(("metadata", "labels", "app.kubernetes.io/name"))
        == 'metadata.labels["app.kubernetes.io/name"]'
    )


def test_managed_paths_read_a_real_servers_fields_v1() -> None:
    # What kube-apiserver records for an apply of a Deployment: `.` marks a node itself,
    # `k:` list items by key, `v:` set members.
    live = {
        "metadata": {
            "managedFields": [
                {
                    "manager": "provisioner",
                    "operation": "Apply",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {
                        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                        "f:spec": {
                            "f:replicas": {},
                            "f:template": {
                                "f:spec": {"f:containers": {'k:{"name":"controller"}': {".": {}, "f:image": {}}}}
                            },
                            "f:finalizers": {'v:"a"': {}},
                        },
                    },
                },
                {
                    "manager": "kube-controller-manager",
                    "operation": "Update",
                    "subresource": "status",
                    "fieldsV1": {"f:status": {"f:replicas": {}}},
                },
                {"manager": "provisioner", "operation": "Update", "fieldsV1": {"f:spec": {"f:paused": {}}}},
            ]
        }
    }
    assert objects.managed_paths(live) == {
        ("metadata", "labels", "app"),
        ("spec", "replicas"),
        ("spec", "template", "spec", "containers"),
        ("spec", "finalizers"),
    }


def test_stale_fields_are_those_applied_before_and_no_longer_set() -> None:
    live = live_copy()
    live["metadata"]["managedFields"] = [
        {
            "manager": "provisioner",
            "operation": "Apply",
            "fieldsV1": {
                "f:metadata": {"f:labels": {"f:app.kubernetes.io/name": {}}},
                "f:spec": {
                    "f:limits": {"f:cpu": {}, "f:memory": {}},
                    "f:weight": {},
                    "f:template": {"f:spec": {"f:requirements": {}}},
                },
            },
        }
    ]
    assert objects.stale_fields(live, MANIFEST) == ["spec.limits.memory"]
    assert objects.observed_fields(live, MANIFEST)[objects.STALE_FIELDS] == ["spec.limits.memory"]
    assert objects.desired_fields(MANIFEST)[objects.STALE_FIELDS] == []


def test_yaml_stream_has_a_header_and_one_document_per_object() -> None:
    text = objects.yaml_stream(
        [
            MANIFEST,
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "c"},
                "data": {"script": "line 1\nline 2\n"},
            },
        ],
        header="first\nsecond",
    )
    assert text.startswith("# first\n# second\n---\n")
    docs = [d for d in yaml.safe_load_all(text) if d]
    assert docs[0] == MANIFEST and docs[1]["data"]["script"] == "line 1\nline 2\n"
    assert "script: |" in text
    assert text.index("apiVersion") < text.index("kind") < text.index("metadata")  # insertion order


def test_object_id() -> None:
    assert (
        objects.object_id({"kind": "Role", "metadata": {"name": "r", "namespace": "kube-system"}})
        == "Role/kube-system/r"
    )
    assert objects.object_id({"kind": "NodePool", "metadata": {"name": "amd64"}}) == "NodePool/amd64"


def test_lists_keyed_by_name_ignore_items_others_added_but_not_missing_ones() -> None:
    want = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    live = [{"name": "A", "value": "1"}, {"name": "X", "value": "9"}, {"name": "B", "value": "2"}]
    assert objects.project(live, want) == want
    assert objects.project([{"name": "A", "value": "1"}], want) == [{"name": "A", "value": "1"}]
    assert objects.project([{"name": "A", "value": "0"}, {"name": "B", "value": "2"}], want)[0]["value"] == "0"


def test_other_managers_are_those_that_wrote_under_a_prefix() -> None:
    live = {
        "metadata": {
            "managedFields": [
                {"manager": "provisioner", "operation": "Apply", "fieldsV1": {"f:spec": {"f:a": {}}}},
                {"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {"f:spec": {"f:b": {}}}},
                {
                    "manager": "kubectl-label",
                    "operation": "Update",
                    "fieldsV1": {"f:metadata": {"f:labels": {"f:x": {}}}},
                },
                {
                    "manager": "controller",
                    "operation": "Update",
                    "subresource": "status",
                    "fieldsV1": {"f:status": {"f:c": {}}},
                },
            ]
        }
    }
    assert objects.other_managers(live, ("spec",)) == {"kubectl-edit"}
    assert objects.other_managers(live, ("metadata",)) == {"kubectl-label"}
