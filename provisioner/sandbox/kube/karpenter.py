"""Karpenter as the emulator shows it: NodePools and EC2NodeClasses become Ready once the
`karpenter` Deployment is available, and the emulated controller (sandbox/karpenter_controller.py)
reconciles EC2NodeClasses when there is one."""

from __future__ import annotations

import copy
from typing import Any

from provisioner.sandbox.kube.objects import Stored, is_available, make_condition
from provisioner.sandbox.kube.resources import ResourceType
from provisioner.sandbox.kube.store import StoreLayer

KARPENTER_READY_KINDS = frozenset({"NodePool", "EC2NodeClass"})
KARPENTER_DEPLOYMENT = ("kube-system", "karpenter")


class KarpenterLayer(StoreLayer):
    """Karpenter as the emulator shows it."""

    # Karpenter's controller marks its NodePools and EC2NodeClasses Ready once it runs; the
    # emulator does so when the `karpenter` Deployment is available (after its rollout).
    def _karpenter_running(self) -> bool:
        deployments = self._bucket(self._type("apps", "v1", "deployments"))
        stored = deployments.get(KARPENTER_DEPLOYMENT)
        return stored is not None and is_available(stored.obj)

    def _karpenter_status(self, obj: dict[str, Any]) -> None:
        now = self._clock()
        previous = obj.get("status") or {}
        others = [c for c in previous.get("conditions") or [] if c.get("type") != "Ready"]
        blocked = [c for c in others if c.get("type") == "InstanceProfileReady" and c.get("status") == "False"]
        if self._karpenter_running() and blocked:
            ready = make_condition(
                "Ready", "False", "InstanceProfileNotReady", blocked[0].get("message", ""), now, previous
            )
        elif self._karpenter_running():
            ready = make_condition("Ready", "True", "Ready", "", now, previous)
        else:
            ready = make_condition(
                "Ready", "Unknown", "AwaitingReconciliation", "object is awaiting reconciliation", now, previous
            )
        obj["status"] = {**previous, "conditions": [ready, *others]}

    def _run_karpenter_controller(self) -> None:
        """What the emulated Karpenter controller does on AWS for EC2NodeClasses while its
        Deployment is available (karpenter_controller.py): add the termination finalizer and
        make the instance profile; on deletion run the finalizer's cleanup, and release the
        object, or keep it with a `CleanupSucceeded` False condition naming the denied call.
        Runs on every request (the real controller requeues on errors)."""
        if self.karpenter is None or not self._karpenter_running():
            return
        rtypes = {t.storage_key: t for t in self._types.values() if t.custom and t.kind == "EC2NodeClass"}
        for rtype in rtypes.values():
            for stored in list(self._bucket(rtype).values()):
                self._karpenter_reconcile_nodeclass(rtype, stored)

    def _karpenter_reconcile_nodeclass(self, rtype: ResourceType, stored: Stored) -> None:
        from provisioner.sandbox.karpenter_controller import FINALIZER

        obj, meta = stored.obj, stored.obj["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        before = copy.deepcopy(obj)
        now = self._clock()
        if meta.get("deletionTimestamp"):
            if FINALIZER not in finalizers:
                return
            problem = self.karpenter.finalize(obj)
            if problem is None:
                finalizers.remove(FINALIZER)
                meta["finalizers"] = finalizers
                if not finalizers:
                    self._remove(rtype, stored)
                    return
            else:
                self._set_condition(
                    obj,
                    make_condition("CleanupSucceeded", "False", "AccessDenied", problem, now, obj.get("status") or {}),
                )
        else:
            if FINALIZER not in finalizers:
                meta["finalizers"] = [*finalizers, FINALIZER]
            problem = self.karpenter.reconcile(obj)
            if problem is None:
                self._set_condition(
                    obj,
                    make_condition(
                        "InstanceProfileReady", "True", "InstanceProfileReady", "", now, obj.get("status") or {}
                    ),
                )
            else:
                self._set_condition(
                    obj,
                    make_condition(
                        "InstanceProfileReady", "False", "AccessDenied", problem, now, obj.get("status") or {}
                    ),
                )
            self._karpenter_status(obj)
        if obj != before:
            self._commit(rtype, stored, "MODIFIED")

    @staticmethod
    def _set_condition(obj: dict[str, Any], condition: dict[str, Any]) -> None:
        status = obj.setdefault("status", {})
        status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != condition["type"]] + [
            condition
        ]

    def _reconcile_karpenter(self) -> None:
        for rtype in {
            t.storage_key: t for t in self._types.values() if t.custom and t.kind in KARPENTER_READY_KINDS
        }.values():
            for stored in list(self._bucket(rtype).values()):
                self._karpenter_status(stored.obj)
                self._commit(rtype, stored, "MODIFIED")
