"""The live audit of the EKS cluster (version, endpoint, logging, secrets encryption) and its
nodes' launch templates (IMDSv2, no public IP)."""

from __future__ import annotations

from provisioner.aws.errors import ClientError, is_not_found
from provisioner.aws.tags import from_list, owned_key, plan_filter
from provisioner.constants import TAG_PLAN, cluster_name
from provisioner.operations.check.base import (
    WORLD,
    AuditBase,
)
from provisioner.planfile.catalog import EKS_LOG_TYPES, SUPPORTED_EKS_VERSIONS


class EksAudit(AuditBase):
    """The cluster's sections (eks, launch_templates)."""

    # -- EKS ----------------------------------------------------------------------------------
    def eks(self) -> None:
        eks = self.client("eks")
        name = cluster_name(self.name)
        controls = ("PROV.1", "EKS.1", "EKS.2", "EKS.3", "EKS.8", "PROV.2", "PROV.3", "PROV.4")
        try:
            cluster = eks.describe_cluster(name=name)["cluster"]
        except ClientError as exc:
            if not is_not_found(exc):
                raise
            self.missing(controls, "eks/cluster", f"EKS cluster {name}")
            return
        if (cluster.get("tags") or {}).get(TAG_PLAN) != self.name:
            self.missing(controls, "eks/cluster", f"EKS cluster {name} carrying {TAG_PLAN}={self.name}")
            return
        arn = cluster.get("arn", name)
        vpc = cluster.get("resourcesVpcConfig", {})
        self.add(
            "PROV.1",
            "eks/cluster",
            bool(vpc.get("endpointPrivateAccess")),
            "private endpoint on" if vpc.get("endpointPrivateAccess") else "private endpoint off",
            arn,
        )
        cidrs = vpc.get("publicAccessCidrs") or ["0.0.0.0/0"]
        if not vpc.get("endpointPublicAccess"):
            self.add("EKS.1", "eks/cluster", True, "public endpoint off", arn)
        elif any(c in WORLD for c in cidrs):
            self.add("EKS.1", "eks/cluster", False, "the public endpoint is open to 0.0.0.0/0", arn)
        else:
            self.add(
                "EKS.1",
                "eks/cluster",
                True,
                f"public endpoint limited to {', '.join(cidrs)} (Security Hub flags any public endpoint)",
                arn,
                warn=True,
            )
        version = cluster.get("version")
        self.add("EKS.2", "eks/cluster", version in SUPPORTED_EKS_VERSIONS, f"Kubernetes {version}", arn)
        keys = [
            e.get("provider", {}).get("keyArn")
            for e in cluster.get("encryptionConfig") or []
            if "secrets" in e.get("resources", [])
        ]
        self.add(
            "EKS.3",
            "eks/cluster",
            bool(keys and keys[0]),
            f"secrets encrypted with {keys[0]}" if keys and keys[0] else "secrets not encrypted with a KMS key",
            arn,
        )
        enabled = {
            t
            for entry in cluster.get("logging", {}).get("clusterLogging", [])
            if entry.get("enabled")
            for t in entry.get("types", [])
        }
        self.add(
            "EKS.8", "eks/cluster", "audit" in enabled, "audit log on" if "audit" in enabled else "audit log off", arn
        )
        off = [t for t in EKS_LOG_TYPES if t not in enabled]
        self.add(
            "PROV.2",
            "eks/cluster",
            not off,
            "all five log types on" if not off else f"control-plane logs off: {', '.join(off)}",
            arn,
        )
        mode = (cluster.get("accessConfig") or {}).get("authenticationMode")
        self.add("PROV.3", "eks/cluster", mode == "API", f"authentication mode {mode}", arn)
        associations = eks.list_pod_identity_associations(
            clusterName=name, namespace="kube-system", serviceAccount="karpenter"
        ).get("associations", [])
        self.add(
            "PROV.4",
            "karpenter/pod-identity",
            bool(associations),
            "kube-system/karpenter has a Pod Identity association"
            if associations
            else "no Pod Identity association for kube-system/karpenter",
            arn,
        )

    def launch_templates(self) -> None:
        ec2 = self.client("ec2")
        templates = [
            t
            for t in ec2.describe_launch_templates(Filters=plan_filter(self.name))["LaunchTemplates"]
            if owned_key(from_list(t.get("Tags")), self.name)
        ]
        if not templates:
            self.missing(
                ("EC2.170", "PROV.5"), "eks/launch-template/system", f"launch template tagged {TAG_PLAN}={self.name}"
            )
            return
        for template in templates:
            key = owned_key(from_list(template.get("Tags")), self.name) or template["LaunchTemplateName"]
            versions = ec2.describe_launch_template_versions(
                LaunchTemplateId=template["LaunchTemplateId"], Versions=["$Default"]
            )["LaunchTemplateVersions"]
            data = versions[0]["LaunchTemplateData"] if versions else {}
            metadata = data.get("MetadataOptions", {})
            tokens, hops = metadata.get("HttpTokens"), metadata.get("HttpPutResponseHopLimit")
            self.add(
                "EC2.170",
                key,
                tokens == "required" and (hops or 1) <= 1,
                f"HttpTokens {tokens}, hop limit {hops}",
                template["LaunchTemplateId"],
            )
            volumes = [m.get("Ebs", {}) for m in data.get("BlockDeviceMappings", [])]
            plain = [m for m in volumes if not m.get("Encrypted")]
            self.add(
                "PROV.5",
                key,
                bool(volumes) and not plain,
                "root volume encrypted" if volumes and not plain else "a volume is not encrypted (or none is set)",
                template["LaunchTemplateId"],
            )
