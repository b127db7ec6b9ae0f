"""Admission: per-kind rules on every write (names, labels, namespaces, type fields), the
Deployment defaults and rollouts, and the clock-driven progress (`_advance`) of rollouts and
Karpenter's readiness."""

from __future__ import annotations

import json
from typing import Any

from provisioner.sandbox.kube import schema
from provisioner.sandbox.kube.crds import CrdLayer
from provisioner.sandbox.kube.karpenter import KARPENTER_DEPLOYMENT, KARPENTER_READY_KINDS
from provisioner.sandbox.kube.objects import (
    DNS_LABEL,
    DNS_SUBDOMAIN,
    LABEL_NAME,
    LABEL_VALUE,
    ApiError,
    Stored,
    is_available,
    make_condition,
)
from provisioner.sandbox.kube.resources import ResourceType


class AdmissionLayer(CrdLayer):
    """Admission."""

    def _admit(
        self, rtype: ResourceType, stored: Stored, existing: Stored | None, query: dict[str, str]
    ) -> list[tuple[str, str]]:
        obj = stored.obj
        obj["apiVersion"], obj["kind"] = rtype.group_version, rtype.kind
        meta = obj["metadata"]
        name = meta["name"]
        causes: list[tuple[str, str, str]] = []
        self._check_name(rtype, name, causes)
        for label_key, label_value in (meta.get("labels") or {}).items():
            check_label(label_key, label_value, causes)
        warnings: list[tuple[str, str]] = []
        if rtype.custom and rtype.schema is not None:
            unknown = schema.prune_and_default(obj, rtype.schema)
            validation = query.get("fieldValidation", "Warn")
            if unknown and validation == "Strict":
                raise ApiError(
                    400,
                    "BadRequest",
                    "strict decoding error: " + ", ".join(f'unknown field "{path}"' for path in unknown),
                )
            if unknown and validation != "Ignore":
                warnings = [("Warning", f'299 - "unknown field \\"{path}\\""') for path in unknown]
            causes.extend(schema.validate(obj, rtype.schema))
        if rtype.kind == "CustomResourceDefinition":
            self._admit_crd(obj, existing, causes)
        elif rtype.custom and rtype.kind in KARPENTER_READY_KINDS:
            self._karpenter_status(obj)
        elif rtype.kind == "Namespace":
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            obj.setdefault("status", {})["phase"] = "Active"
        elif rtype.kind == "Deployment":
            self._admit_deployment(stored, existing, causes)
        elif rtype.kind == "Service":
            spec = obj.setdefault("spec", {})
            spec.setdefault("type", "ClusterIP")
            if existing is not None and "clusterIP" in existing.obj.get("spec", {}):
                spec.setdefault("clusterIP", existing.obj["spec"]["clusterIP"])
            if spec.get("type") != "ExternalName" and "clusterIP" not in spec:
                self._ip += 1
                spec["clusterIP"] = f"10.100.{self._ip // 250}.{self._ip % 250 + 1}"
                spec["clusterIPs"] = [spec["clusterIP"]]
        if causes:
            raise self._invalid(rtype, name, causes)
        return warnings

    def _admit_generation_change(self, rtype: ResourceType, stored: Stored) -> None:
        if rtype.kind == "Deployment":
            self._start_rollout(stored, was_available=is_available(stored.obj))

    def _admit_deployment(self, stored: Stored, existing: Stored | None, causes: list[tuple[str, str, str]]) -> None:
        # The defaults the apps/v1 API applies.
        spec = stored.obj.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        spec.setdefault(
            "strategy",
            {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
            },
        )
        if not isinstance(spec.get("replicas"), int) or spec["replicas"] < 0:
            causes.append(
                (
                    "spec.replicas",
                    "FieldValueInvalid",
                    "spec.replicas: Invalid value: must be greater than or equal to 0",
                )
            )
        if not (spec.get("selector") or {}).get("matchLabels") and not (spec.get("selector") or {}).get(
            "matchExpressions"
        ):
            causes.append(("spec.selector", "FieldValueRequired", "spec.selector: Required value"))
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        match_labels = (spec.get("selector") or {}).get("matchLabels") or {}
        if any(template_labels.get(k) != v for k, v in match_labels.items()):
            causes.append(
                (
                    "spec.template.metadata.labels",
                    "FieldValueInvalid",
                    "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`",
                )
            )
        if existing is None:
            self._start_rollout(stored, was_available=False)

    def _start_rollout(self, stored: Stored, was_available: bool) -> None:
        # The Deployment controller's view of a rollout: new pods are created and become
        # ready after the model's delay; until then the old ones (if any) keep serving.
        obj = stored.obj
        replicas = obj["spec"].get("replicas", 1)
        generation = obj["metadata"].get("generation", 1)
        now = self._clock()
        delay = self._rollout_seconds()
        if delay <= 0 or replicas == 0:
            obj["status"] = _deployment_ready_status(obj, generation, replicas, now)
            stored.rollout_ready_at = None
            return
        previous = obj.get("status") or {}
        status: dict[str, Any] = {
            "observedGeneration": generation,
            "replicas": replicas,
            "updatedReplicas": 0,
            "unavailableReplicas": replicas,
            "conditions": [
                make_condition(
                    "Available",
                    "True" if was_available else "False",
                    "MinimumReplicasAvailable" if was_available else "MinimumReplicasUnavailable",
                    "Deployment has minimum availability."
                    if was_available
                    else "Deployment does not have minimum availability.",
                    now,
                    previous,
                ),
                make_condition(
                    "Progressing",
                    "True",
                    "ReplicaSetUpdated",
                    f'ReplicaSet "{_replicaset_name(obj)}" is progressing.',
                    now,
                    previous,
                ),
            ],
        }
        if was_available:
            # The old ReplicaSet's pods keep serving until the new ones are ready.
            serving = min(int(previous.get("availableReplicas") or 0), replicas)
            status.update(
                readyReplicas=serving,
                availableReplicas=serving,
                unavailableReplicas=max(0, replicas - serving),
            )
        obj["status"] = status
        stored.rollout_ready_at = now + delay

    def _advance(self) -> None:
        """Finish the rollouts whose time has come (called with the lock held)."""
        now = self._clock()
        deployments = self._type("apps", "v1", "deployments")
        for stored in list(self._bucket(deployments).values()):
            if stored.rollout_ready_at is not None and stored.rollout_ready_at <= now:
                obj = stored.obj
                obj["status"] = _deployment_ready_status(
                    obj, obj["metadata"].get("generation", 1), obj["spec"].get("replicas", 1), now
                )
                stored.rollout_ready_at = None
                self._commit(deployments, stored, "MODIFIED")
                if obj["metadata"].get("name") == KARPENTER_DEPLOYMENT[1]:
                    self._reconcile_karpenter()
        self._run_karpenter_controller()

    def _check_type_fields(self, rtype: ResourceType, obj: Any) -> None:
        if not isinstance(obj, dict):
            raise ApiError(400, "BadRequest", "the body of the request must be a JSON object")
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if api_version and api_version != rtype.group_version:
            raise ApiError(
                400,
                "BadRequest",
                f"the API version in the data ({api_version}) does not match "
                f"the expected API version ({rtype.group_version})",
            )
        if kind and kind != rtype.kind:
            raise ApiError(
                400,
                "BadRequest",
                f"the kind in the data ({kind}) does not match the expected kind ({rtype.kind})",
            )

    def _check_namespace(self, rtype: ResourceType, namespace: str | None, meta: dict[str, Any]) -> None:
        if not rtype.namespaced:
            meta.pop("namespace", None)
            return
        if meta.get("namespace") not in (None, "", namespace):
            raise ApiError(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the request",
            )
        meta["namespace"] = namespace
        ns = self._bucket(self._type("", "v1", "namespaces")).get(("", namespace or ""))
        if ns is None:
            raise ApiError(
                404,
                "NotFound",
                f'namespaces "{namespace}" not found',
                {"name": namespace, "kind": "namespaces"},
            )
        if ns.obj["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                "Forbidden",
                f'{self._resource_name(rtype)} "{meta.get("name")}" is forbidden: '
                f"unable to create new content in namespace {namespace} "
                "because it is being terminated",
            )

    def _check_name(self, rtype: ResourceType, name: str, causes: list[tuple[str, str, str]]) -> None:
        if rtype.group == "rbac.authorization.k8s.io":
            # RBAC names are path segments: "system:controller:foo" is fine.
            ok = name not in (".", "..") and "/" not in name and "%" not in name
            rule = "may not be '.' or '..' or contain '/' or '%'"
        elif rtype.kind in ("Namespace", "Service"):
            ok = len(name) <= 63 and bool(DNS_LABEL.match(name))
            rule = (
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
                "or '-', "
                "and must start and end with an alphanumeric character"
            )
        else:
            ok = len(name) <= 253 and bool(DNS_SUBDOMAIN.match(name))
            rule = (
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                "characters, "
                "'-' or '.', and must start and end with an alphanumeric character"
            )
        if not ok:
            causes.append(
                (
                    "metadata.name",
                    "FieldValueInvalid",
                    f'metadata.name: Invalid value: "{name}": {rule}',
                )
            )


def _replicaset_name(obj: dict[str, Any]) -> str:
    import hashlib

    template = json.dumps(obj.get("spec", {}).get("template", {}), sort_keys=True)
    return f"{obj['metadata']['name']}-{hashlib.sha256(template.encode()).hexdigest()[:10]}"


def _deployment_ready_status(obj: dict[str, Any], generation: int, replicas: int, now: float) -> dict[str, Any]:
    previous = obj.get("status") or {}
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "conditions": [
            make_condition(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                now,
                previous,
            ),
            make_condition(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{_replicaset_name(obj)}" has successfully progressed.',
                now,
                previous,
            ),
        ],
    }
    if replicas == 0:  # the real controller omits zero counts
        for key in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas"):
            status.pop(key)
    return status


def check_label(key: str, value: Any, causes: list[tuple[str, str, str]]) -> None:
    prefix, _, name = key.rpartition("/")
    if (
        (prefix and (len(prefix) > 253 or not DNS_SUBDOMAIN.match(prefix)))
        or len(name) > 63
        or not LABEL_NAME.match(name)
    ):
        causes.append(
            (
                "metadata.labels",
                "FieldValueInvalid",
                f'metadata.labels: Invalid value: "{key}": name part must consist of alphanumeric '
                "characters, '-', '_' or '.', and must start and end with an alphanumeric "
                "character",
            )
        )
    if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.match(value):
        causes.append(
            (
                "metadata.labels",
                "FieldValueInvalid",
                f'metadata.labels: Invalid value: "{value}": a valid label must be an empty string '
                "or consist of alphanumeric characters, '-', '_' or '.', and must start and "
                "end with "
                "an alphanumeric character",
            )
        )
