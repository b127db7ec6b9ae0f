"""An emulated Karpenter controller (v1.14.1) that acts on AWS only as its IAM role allows.

The Kubernetes emulator (`kube.apiserver`) calls it for EC2NodeClasses once the `karpenter`
Deployment is available. It stands in for the parts of the real controller whose AWS calls
decide whether a destroy can finish: the EC2NodeClass's instance profile and its
termination finalizer (`karpenter.k8s.aws/termination`).

Credentials: the role the EKS Pod Identity association of `kube-system/karpenter` names
(`eks.models.pod_identity_role_arn`), as the Pod Identity agent would hand it to the pods. Each
call is evaluated against that role's inline and attached policies (and its permissions
boundary) with `iam_evaluator`, with the request context AWS would build (the resource's
tags as `aws:ResourceTag/...`, the request's tags, `aws:RequestedRegion`,
`iam:PassedToService`); only an allowed call reaches moto's backends.

Reconcile (the controller's instance profile reconciler): once, an instance profile for the
class's `spec.role`, at Karpenter's path `/karpenter/<region>/<cluster>/<uid>/`, tagged as
Karpenter tags it (cluster ownership, `eks:eks-cluster-name`, the region, the class name,
plus the class's `spec.tags`): iam:CreateInstanceProfile, iam:AddRoleToInstanceProfile
(which also needs iam:PassRole on the role). Its name goes to `status.instanceProfile`.

Finalize (the calls the real finalizer makes, pkg/controllers/nodeclass/controller.go at
v1.14.1, `finalize` -> `cleanupManagedInstanceProfiles` and `launchTemplateProvider.DeleteAll`):

1. iam:ListInstanceProfiles with the class's path prefix;
2. for each profile: iam:GetInstanceProfile, iam:RemoveRoleFromInstanceProfile (when it has
   a role), iam:DeleteInstanceProfile;
3. the legacy profile name (`<cluster>_<hash of region and class name>`):
   iam:GetInstanceProfile, a missing profile being fine (the hash is the emulator's own, as
   no such profile exists here: only the permission matters);
4. ec2:DescribeLaunchTemplates filtered by the `eks:eks-cluster-name` and
   `karpenter.k8s.aws/ec2nodeclass` tags, then ec2:DeleteLaunchTemplate for each.

A denied call stops the finalizer where the real one would return its error: the finalizer
stays and `finalize` answers the message, which the API server puts in a status condition
(`CleanupSucceeded` False, reason `AccessDenied`) naming the action, the resource and the
role, as an operator would read it in the controller's log. The real controller retries;
the emulator retries on every API request, so fixing the policy lets the deletion finish.
NodeClaims are not waited for here (the emulator launches none).
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any
from urllib.parse import unquote

from provisioner.sandbox import iam_evaluator

log = logging.getLogger(__name__)

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "karpenter"
FINALIZER = "karpenter.k8s.aws/termination"
NODECLASS_TAG = "karpenter.k8s.aws/ec2nodeclass"
CLUSTER_NAME_TAG = "eks:eks-cluster-name"
REGION_TAG = "topology.kubernetes.io/region"


class Denied(Exception):
    def __init__(self, action: str, resource: str, role: str | None, reason: str):
        self.action, self.resource, self.role = action, resource, role
        who = f"the controller role {role}" if role else "the controller (no Pod Identity association gives it a role)"
        super().__init__(f"{action} denied: {who} is not authorized to perform {action} on {resource} ({reason})")


class Controller:
    """Karpenter's controller for one sandbox cluster."""

    def __init__(self, account: str, region: str, cluster: str):
        self.account, self.region, self.cluster = account, region, cluster

    # --- AWS access ---------------------------------------------------------------------

    @property
    def partition(self) -> str:
        from moto.utilities.utils import get_partition

        return str(get_partition(self.region))

    def _iam(self) -> Any:
        from moto.iam.models import iam_backends

        return iam_backends[self.account][self.partition]

    def _ec2(self) -> Any:
        from moto.ec2.models import ec2_backends

        return ec2_backends[self.account][self.region]

    def role_arn(self) -> str | None:
        from provisioner.sandbox.eks import models as eks_models

        return eks_models.pod_identity_role_arn(self.account, self.region, self.cluster, NAMESPACE, SERVICE_ACCOUNT)

    def _policies(self, role_arn: str) -> tuple[list[Any], list[Any] | None]:
        iam = self._iam()
        role = iam.get_role_by_arn(role_arn)
        documents: list[Any] = [_document(text) for text in role.policies.values()]
        for policy in list(role.managed_policies.values()):
            documents.append(_document(_default_version(policy)))
        boundary = None
        if getattr(role, "permissions_boundary_arn", None):
            boundary = [_document(_default_version(iam.get_policy(role.permissions_boundary_arn)))]
        return documents, boundary

    def authorize(self, action: str, resource: str, context: dict[str, Any] | None = None) -> None:
        role_arn = self.role_arn()
        if role_arn is None:
            raise Denied(action, resource, None, "no credentials")
        try:
            policies, boundary = self._policies(role_arn)
        except Exception:  # the role is gone
            raise Denied(action, resource, role_arn, "the role does not exist") from None
        decision = iam_evaluator.evaluate(
            policies, action, resource, {"aws:RequestedRegion": self.region, **(context or {})}, boundary=boundary
        )
        if not decision.allowed:
            raise Denied(action, resource, role_arn, decision.reason)

    # --- names --------------------------------------------------------------------------

    def profile_path(self, uid: str) -> str:
        return f"/karpenter/{self.region}/{self.cluster}/{uid}/"

    def _profile_arn(self, path: str, name: str) -> str:
        return f"arn:{self.partition}:iam::{self.account}:instance-profile{path}{name}"

    def legacy_profile_name(self, nodeclass: str) -> str:
        digest = int(hashlib.sha256(f"{self.region}{nodeclass}".encode()).hexdigest()[:15], 16)
        return f"{self.cluster}_{digest}"

    def profile_tags(self, obj: dict[str, Any]) -> dict[str, str]:
        return {
            **((obj.get("spec") or {}).get("tags") or {}),
            f"kubernetes.io/cluster/{self.cluster}": "owned",
            CLUSTER_NAME_TAG: self.cluster,
            REGION_TAG: self.region,
            NODECLASS_TAG: obj["metadata"]["name"],
        }

    # --- reconcile and finalize ---------------------------------------------------------

    def reconcile(self, obj: dict[str, Any]) -> str | None:
        """Make the class's instance profile once; None, or the message of a denied call."""
        status = obj.setdefault("status", {})
        if status.get("instanceProfile"):
            return None
        name, uid = obj["metadata"]["name"], obj["metadata"].get("uid", "")
        role_name = ((obj.get("spec") or {}).get("role") or "").rsplit("/", 1)[-1]
        if not role_name:
            return None
        profile = f"{self.cluster}_{int(hashlib.sha256(f'{self.region}{name}{uid}'.encode()).hexdigest()[:15], 16)}"
        path = self.profile_path(uid)
        arn = self._profile_arn(path, profile)
        tags = self.profile_tags(obj)
        iam = self._iam()
        # The real controller remembers what it made (a cache); the emulator looks.
        existing = next((p for p in list(iam.get_instance_profiles()) if p.name == profile), None)
        try:
            if existing is None:
                self.authorize(
                    "iam:CreateInstanceProfile",
                    arn,
                    {**iam_evaluator.tag_context("aws:RequestTag", tags), "aws:TagKeys": sorted(tags)},
                )
                iam.create_instance_profile(profile, path, [], tags=[{"Key": k, "Value": v} for k, v in tags.items()])
            elif existing.roles:
                status["instanceProfile"] = profile
                return None
            role = iam.get_role(role_name)
            self.authorize("iam:PassRole", role.arn, {"iam:PassedToService": "ec2.amazonaws.com"})
            self.authorize("iam:AddRoleToInstanceProfile", arn, iam_evaluator.tag_context("aws:ResourceTag", tags))
            iam.add_role_to_instance_profile(profile, role_name)
        except Denied as denied:
            return str(denied)
        except Exception as exc:  # a missing role: the real controller reports it the same way
            return f"instance profile {profile}: {exc}"
        status["instanceProfile"] = profile
        return None

    def finalize(self, obj: dict[str, Any]) -> str | None:
        """The finalizer's AWS calls; None when done, else the message of the call that failed."""
        name, uid = obj["metadata"]["name"], obj["metadata"].get("uid", "")
        iam, ec2 = self._iam(), self._ec2()
        try:
            prefix = self.profile_path(uid)
            self.authorize("iam:ListInstanceProfiles", self._profile_arn(prefix, ""))
            profiles = [p for p in list(iam.get_instance_profiles()) if p.path.startswith(prefix)]
            for profile in profiles:
                self._delete_profile(profile.name, profile.arn, _tags(profile.tags))
            legacy = self.legacy_profile_name(name)
            self.authorize("iam:GetInstanceProfile", self._profile_arn("/", legacy))
            if any(p.name == legacy for p in list(iam.get_instance_profiles())):
                profile = iam.get_instance_profile(legacy)
                self._delete_profile(legacy, profile.arn, _tags(profile.tags))
            self.authorize("ec2:DescribeLaunchTemplates", "*")
            for template in list(ec2.describe_launch_templates()):
                tags = {t["key"]: t["value"] for t in template.get_tags()}
                if tags.get(CLUSTER_NAME_TAG) != self.cluster or tags.get(NODECLASS_TAG) != name:
                    continue
                arn = f"arn:{self.partition}:ec2:{self.region}:{self.account}:launch-template/{template.id}"
                self.authorize("ec2:DeleteLaunchTemplate", arn, iam_evaluator.tag_context("aws:ResourceTag", tags))
                ec2.delete_launch_template(template.name, None)
        except Denied as denied:
            return str(denied)
        return None

    def _delete_profile(self, name: str, arn: str, tags: dict[str, str]) -> None:
        iam = self._iam()
        context = iam_evaluator.tag_context("aws:ResourceTag", tags)
        self.authorize("iam:GetInstanceProfile", arn, context)
        profile = iam.get_instance_profile(name)
        for role in list(profile.roles):
            self.authorize("iam:RemoveRoleFromInstanceProfile", arn, context)
            iam.remove_role_from_instance_profile(name, role.name)
        self.authorize("iam:DeleteInstanceProfile", arn, context)
        iam.delete_instance_profile(name)


def _document(text: Any) -> Any:
    if isinstance(text, str):
        return json.loads(unquote(text) if text.lstrip().startswith("%") else text)
    return text


def _default_version(policy: Any) -> Any:
    for version in getattr(policy, "versions", []):
        if getattr(version, "is_default", False) or getattr(version, "version_id", None) == policy.default_version_id:
            return version.document
    return getattr(policy, "document", "{}")


def _tags(tags: Any) -> dict[str, str]:
    if isinstance(tags, dict):
        return {k: (v["Value"] if isinstance(v, dict) else v) for k, v in tags.items()}
    return {t["Key"]: t["Value"] for t in tags or []}
