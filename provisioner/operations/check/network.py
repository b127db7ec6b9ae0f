"""The live audit of the network: VPCs, flow logs, network ACLs, security groups open to the
world, and (Shared Services) the Transit Gateway's segment matrix."""

from __future__ import annotations

from typing import Any

from provisioner.aws.tags import from_list, owned_key, plan_filter
from provisioner.constants import TAG_PLAN
from provisioner.operations.check.base import (
    AuditBase,
    admits_admin_ports,
    from_world,
    port_range,
)


class NetworkAudit(AuditBase):
    """The network's sections (network, transit)."""

    def network(self) -> None:
        ec2 = self.client("ec2")
        vpcs = [
            v
            for v in ec2.describe_vpcs(Filters=plan_filter(self.name))["Vpcs"]
            if owned_key(from_list(v.get("Tags")), self.name) == "network/vpc"
        ]
        if not vpcs:
            self.missing(("EC2.6", "EC2.2", "PROV.6", "EC2.21"), "network/vpc", f"VPC tagged {TAG_PLAN}={self.name}")
            return
        for vpc in vpcs:
            vpc_id = vpc["VpcId"]
            by_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
            logs = [
                f
                for f in ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc_id]}])["FlowLogs"]
                if f.get("FlowLogStatus", "ACTIVE") == "ACTIVE"
            ]
            traffic = sorted({f.get("TrafficType") for f in logs})
            if not logs:
                self.add("EC2.6", "network/flow-logs", False, "no active flow log on the VPC", vpc_id)
            else:
                self.add(
                    "EC2.6", "network/flow-logs", "ALL" in traffic, f"flow log traffic: {', '.join(traffic)}", vpc_id
                )
            default = ec2.describe_security_groups(Filters=by_vpc + [{"Name": "group-name", "Values": ["default"]}])[
                "SecurityGroups"
            ]
            for group in default:
                rules = len(group.get("IpPermissions", [])) + len(group.get("IpPermissionsEgress", []))
                self.add(
                    "EC2.2",
                    "network/default-sg",
                    rules == 0,
                    "no rules" if rules == 0 else f"{rules} rule(s) allow traffic",
                    group["GroupId"],
                )
            self._nacls(ec2, vpc_id, by_vpc)
            self._open_groups(vpc_id)

    def _nacls(self, ec2: Any, vpc_id: str, by_vpc: list[dict[str, Any]]) -> None:
        acls = ec2.describe_network_acls(Filters=by_vpc)["NetworkAcls"]
        subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=by_vpc)["Subnets"]]
        acl_of = {a["SubnetId"]: acl for acl in acls for a in acl.get("Associations", [])}
        unguarded = [
            s
            for s in subnets
            if s not in acl_of
            or acl_of[s].get("IsDefault")
            or from_list(acl_of[s].get("Tags")).get(TAG_PLAN) != self.name
        ]
        self.add(
            "PROV.6",
            "network/nacl",
            not unguarded,
            f"{len(subnets)} subnet(s) use the plan's NACLs"
            if not unguarded
            else f"subnets on the default or a foreign NACL: {', '.join(sorted(unguarded))}",
            vpc_id,
        )
        for acl in acls:
            used = any(a.get("SubnetId") for a in acl.get("Associations", []))
            entries = [e for e in acl.get("Entries", []) if admits_admin_ports(e)]
            # The plan's return-traffic rules skip 3389, so no entry of a NACL in use may admit
            # 22 or 3389 from anywhere: one that does was added by hand.
            key = owned_key(from_list(acl.get("Tags")), self.name) or (
                "default NACL" if acl.get("IsDefault") else acl["NetworkAclId"]
            )
            if not entries:
                self.add("EC2.21", key, True, "no entry admits 0.0.0.0/0 to 22 or 3389", acl["NetworkAclId"])
            elif not used and not acl.get("IsDefault"):
                self.add(
                    "EC2.21",
                    key,
                    True,
                    "allows all from anywhere but governs no subnet (Security Hub still lists it)",
                    acl["NetworkAclId"],
                    warn=True,
                )
            elif not used:
                # The network step strips the default NACL (network/default-nacl): a rule here
                # was added back, and it is what a subnet falls back to.
                rules = sorted(e["RuleNumber"] for e in entries)
                self.add(
                    "EC2.21",
                    key,
                    False,
                    f"the default NACL admits 0.0.0.0/0 to 22 or 3389 again (rule(s) {rules}); apply strips it",
                    acl["NetworkAclId"],
                )
            else:
                rules = sorted(e["RuleNumber"] for e in entries)
                self.add("EC2.21", key, False, f"rule(s) {rules} admit 0.0.0.0/0 to 22 or 3389", acl["NetworkAclId"])

    def _open_groups(self, vpc_id: str) -> None:
        for group in self.plan_groups():
            if group.get("VpcId") != vpc_id or group.get("GroupName") == "default":
                continue
            key = from_list(group.get("Tags")).get("provisioner:key", group["GroupName"])
            world = [
                port_range(p)
                for p in group.get("IpPermissions", [])
                if from_world(p) and port_range(p) not in ("80", "443")
            ]
            self.add(
                "EC2.18",
                key,
                not world,
                "no unrestricted ingress" if not world else f"ingress from anywhere on {', '.join(world)}",
                group["GroupId"],
            )

    # -- transit (issue 18) ---------------------------------------------------------------------
    def transit(self) -> None:
        from provisioner.operations.transit_check import live_segment_matrix, matrix_text, one_way_problems

        ec2 = self.client("ec2")
        matrix = live_segment_matrix(ec2, self.name)
        if matrix is None:
            self.missing(
                ("PROV.18",), "shared/transit/gateway", f"Transit Gateway route tables tagged {TAG_PLAN}={self.name}"
            )
            return
        problems = one_way_problems(ec2, self.name)
        detail = matrix_text(matrix) + (f"; prod and non-prod joined: {'; '.join(problems)}" if problems else "")
        self.add("PROV.18", "shared/transit/gateway", not problems, detail, "transit gateway route tables")
