"""Sweeps that run while the cluster still does: LoadBalancer Services and Ingresses (their
controllers delete their load balancers), then the instances Karpenter launched."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from provisioner.aws.controllers import ALIVE_INSTANCE_STATES
from provisioner.aws.discovery import describe_all
from provisioner.aws.errors import ClientError, as_provisioner_error, is_not_found
from provisioner.aws.tags import from_list
from provisioner.aws.waiters import wait_for
from provisioner.engine import Live, RunContext
from provisioner.engine.errors import PermanentError
from provisioner.kube import client as kube
from provisioner.steps.cleanup.leftover import (
    INSTANCE_TERMINATE_TIMEOUT,
    KARPENTER_INSTANCES,
    KUBE_LOAD_BALANCERS,
    KUBE_OBJECT_DELETE_TIMEOUT,
    Leftover,
)
from provisioner.steps.k8s.connection import api_for, call, require_api

# --- in the cluster -------------------------------------------------------------------------


@dataclass(kw_only=True)
class KubeLoadBalancers(Leftover):
    """LoadBalancer Services and Ingresses, deleted while their controllers still run."""

    type = "k8s:load-balancer"
    iam_actions = ("eks:DescribeCluster",)
    sweep_key = KUBE_LOAD_BALANCERS

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        api = api_for(ctx)
        if api is None:  # no cluster (or not reachable yet): nothing in it to delete
            return []
        lives = []
        for obj in call(None, "listing Services", kube.list_objects, api, "v1", "Service"):
            if (obj.get("spec") or {}).get("type") == "LoadBalancer":
                lives.append(_kube_live(obj, "Service of type LoadBalancer"))
        for obj in call(None, "listing Ingresses", kube.list_objects, api, "networking.k8s.io/v1", "Ingress"):
            lives.append(_kube_live(obj, "Ingress"))
        return lives

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: what the object is (`Ingress`, `Service of type LoadBalancer`)."""
        return {"reason": f"{item['what']} in the cluster"}

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        cls.delete_all(ctx, [have])

    @classmethod
    def delete_all(cls, ctx: RunContext, found: list[Live]) -> None:
        """Delete them all, then wait once for all (their controllers work in parallel)."""
        if not found:
            return
        api = require_api(ctx, cls.sweep_key)
        pending: dict[str, tuple[Any, ...]] = {}
        for have in found:
            metadata = have.raw.get("metadata") or {}
            args = (api, have.raw["apiVersion"], have.raw["kind"], metadata.get("name"), metadata.get("namespace"))
            ctx.progress(cls.sweep_key, f"deleting {have.id} ({have.fields.get('reason')})")
            if call(cls.sweep_key, f"deleting {have.id}", kube.delete, *args):
                pending[have.id] = args

        def state() -> str | None:
            left = [name for name, args in pending.items() if call(cls.sweep_key, f"reading {name}", kube.get, *args)]
            return f"{len(left)} deleting (their controllers remove the load balancers first)" if left else None

        if not pending:
            return
        try:
            wait_for(
                ctx,
                key=cls.sweep_key,
                what="LoadBalancer Services and Ingresses",
                read_state=state,
                done={None},
                timeout=KUBE_OBJECT_DELETE_TIMEOUT,
            )
        except PermanentError:
            ctx.progress(
                cls.sweep_key,
                "some are still there; going on: the sweep after the cluster removes the "
                "load balancers their controllers left",
            )


def _kube_live(obj: dict[str, Any], what: str) -> Live:
    metadata = obj.get("metadata") or {}
    name = f"{obj.get('kind')} {metadata.get('namespace')}/{metadata.get('name')}"
    return Live(key=KUBE_LOAD_BALANCERS, id=name, fields=KubeLoadBalancers.observe({"what": what}), raw=obj)


# --- instances Karpenter launched -----------------------------------------------------------


@dataclass(kw_only=True)
class KarpenterInstances(Leftover):
    """Instances Karpenter launched for this cluster that its NodeClaims did not take away."""

    type = "ec2:instance"
    iam_actions = ("ec2:DescribeInstances", "ec2:TerminateInstances")
    sweep_key = KARPENTER_INSTANCES
    delete_seconds = 60.0

    @classmethod
    def candidates(cls, ctx: RunContext) -> Iterable[tuple[str, dict[str, str], Any]]:
        filters = [
            {"Name": "tag-key", "Values": ["karpenter.sh/nodepool"]},
            {"Name": "instance-state-name", "Values": ALIVE_INSTANCE_STATES},
        ]
        for reservation in describe_all(ctx.aws.client("ec2"), "describe_instances", "Reservations", Filters=filters):
            for instance in reservation.get("Instances", []):
                yield instance["InstanceId"], from_list(instance.get("Tags")), instance

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        cls.delete_all(ctx, [have])

    @classmethod
    def delete_all(cls, ctx: RunContext, found: list[Live]) -> None:
        ids = [live.id for live in found]
        if not ids:
            return
        ctx.progress(cls.sweep_key, f"terminating {len(ids)} instance(s) Karpenter left: {', '.join(ids)}")
        for start in range(0, len(ids), 500):
            batch = ids[start : start + 500]
            try:
                ctx.aws.client("ec2").terminate_instances(InstanceIds=batch)
            except ClientError as exc:
                # One id already gone fails the whole call (InvalidInstanceID.NotFound): the
                # others are terminated one by one, each "not found" being success.
                if not is_not_found(exc):
                    raise as_provisioner_error(exc, key=cls.sweep_key) from exc
                for instance_id in batch:
                    cls.call(ctx, "ec2", "terminate_instances", InstanceIds=[instance_id])
        poll = ctx.aws.poller("ec2")
        filters = [
            {"Name": "instance-id", "Values": ids},
            {"Name": "instance-state-name", "Values": ALIVE_INSTANCE_STATES},
        ]

        def state() -> str | None:
            # A filter, not InstanceIds: an id that is gone must not fail the whole read.
            alive = [
                i["InstanceId"]
                for r in describe_all(poll, "describe_instances", "Reservations", Filters=filters)
                for i in r["Instances"]
            ]
            return f"{len(alive)} of {len(ids)} terminating" if alive else None

        wait_for(
            ctx,
            key=cls.sweep_key,
            what="Karpenter instances",
            read_state=state,
            done={None},
            timeout=INSTANCE_TERMINATE_TIMEOUT,
        )
