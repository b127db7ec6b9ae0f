"""The system node group's launch template (ec2:launch-template); the node group itself is
in nodegroups.py.

- The template requires IMDSv2 with a hop limit of 1 (pods cannot reach the node's instance
  credentials; they use EKS Pod Identity), and an encrypted gp3 root volume. It names the
  node security group; EKS then attaches only that group to the nodes.
- A changed template is a new template version made default; nodegroups.py moves the node
  group to it with UpdateNodegroupVersion (a rolling replacement EKS performs).
- Templates are discovered with one DescribeLaunchTemplateVersions for the default version of
  every template in the region (EC2 answers that without a template id when the versions
  asked for are `$Default`), their tags from the run's bulk tag read, instead of a tag-filtered
  DescribeLaunchTemplates and a versions read per template (issue #17). A template named like
  the plan's (`<plan>-...`) that the eventually consistent tag read does not know yet has its
  tags read by id, so one made a moment ago is still recognised.
  https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeLaunchTemplateVersions.html
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from provisioner.aws.discovery import describe_all, tagged_resources
from provisioner.aws.errors import ClientError, error_code, is_not_found
from provisioner.aws.tags import from_list, owned_key
from provisioner.constants import idempotency_token
from provisioner.engine import Live, Refs, RunContext, tags_changed
from provisioner.steps.common.ec2 import Ec2Resource, ec2_call


@dataclass(kw_only=True)
class LaunchTemplate(Ec2Resource):
    name: str
    security_groups: tuple[str, ...]
    volume_gib: int
    instance_tags: dict[str, str] = field(default_factory=dict)

    type = "ec2:launch-template"
    iam_actions = (
        "ec2:DescribeLaunchTemplates",
        "ec2:DescribeLaunchTemplateVersions",
        "tag:GetResources",
        "ec2:CreateLaunchTemplate",
        "ec2:CreateLaunchTemplateVersion",
        "ec2:ModifyLaunchTemplate",
        "ec2:DeleteLaunchTemplate",
        "ec2:CreateTags",
        "ec2:DeleteTags",
    )
    create_seconds = 1.0
    delete_seconds = 1.0
    replace_on = frozenset({"name"})
    describe_operation = "describe_launch_templates"
    result_key = "LaunchTemplates"
    id_field = "LaunchTemplateId"
    tag_resource_type = "launch-template"

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        ec2 = ctx.aws.client("ec2")
        versions = describe_all(
            ec2, "describe_launch_template_versions", "LaunchTemplateVersions", Versions=["$Default"], MaxResults=200
        )
        tagged = tagged_resources(ctx)
        arn_prefix = f"arn:{ctx.aws.partition}:ec2:{ctx.aws.region}:{ctx.aws.account_id}:launch-template/"
        named_like_ours = f"{ctx.plan_name}-"  # `resource_name`'s prefix
        lives = []
        for version in versions:
            template_id = version["LaunchTemplateId"]
            tags = tagged.get(arn_prefix + template_id)
            if tags is None:
                if not str(version.get("LaunchTemplateName", "")).startswith(named_like_ours):
                    continue  # no plan tag (Karpenter's, EKS's, someone else's template)
                tags = cls._tags_by_id(ec2, template_id)
            key = owned_key(tags, ctx.plan_name)
            if key is None:
                continue
            live = Live(key=key, id=template_id, fields=cls.observe(version), tags=tags, raw=version)
            live.fields.update(cls.observe_data(version.get("LaunchTemplateData") or {}))
            live.outputs["version"] = str(version["VersionNumber"])
            lives.append(live)
        return lives

    @staticmethod
    def _tags_by_id(ec2: Any, template_id: str) -> dict[str, str]:
        """A template's tags from EC2 itself (strongly consistent); {} if it is gone."""
        try:
            found = ec2.describe_launch_templates(LaunchTemplateIds=[template_id])["LaunchTemplates"]
        except ClientError as exc:
            if is_not_found(exc) or "NotFound" in (error_code(exc) or ""):
                return {}
            raise
        return from_list(found[0].get("Tags")) if found else {}

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        return {"name": item["LaunchTemplateName"]}

    @staticmethod
    def observe_data(data: dict[str, Any]) -> dict[str, Any]:
        metadata = data.get("MetadataOptions", {})
        volumes = data.get("BlockDeviceMappings", [{}])
        ebs = volumes[0].get("Ebs", {}) if volumes else {}
        return {
            "metadata": {
                "http_tokens": metadata.get("HttpTokens"),
                "hop_limit": metadata.get("HttpPutResponseHopLimit"),
                "endpoint": metadata.get("HttpEndpoint"),
            },
            "root_volume": {
                "device": volumes[0].get("DeviceName") if volumes else None,
                "size": ebs.get("VolumeSize"),
                "type": ebs.get("VolumeType"),
                "encrypted": ebs.get("Encrypted"),
            },
            "security_group_ids": sorted(data.get("SecurityGroupIds", [])),
        }

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {
            "name": self.name,
            "metadata": {"http_tokens": "required", "hop_limit": 1, "endpoint": "enabled"},
            "root_volume": {"device": "/dev/xvda", "size": self.volume_gib, "type": "gp3", "encrypted": True},
            "security_group_ids": sorted((refs.id(k) for k in self.security_groups), key=str),
        }

    def template_data(self, ctx: RunContext, want: dict[str, Any]) -> dict[str, Any]:
        return {
            "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 1, "HttpEndpoint": "enabled"},
            "BlockDeviceMappings": [
                {
                    "DeviceName": "/dev/xvda",
                    "Ebs": {
                        "VolumeSize": self.volume_gib,
                        "VolumeType": "gp3",
                        "Encrypted": True,
                        "DeleteOnTermination": True,
                    },
                }
            ],
            "SecurityGroupIds": want["security_group_ids"],
            "TagSpecifications": [
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": k, "Value": v} for k, v in sorted(self.instance_tags.items())],
                },
                {
                    "ResourceType": "volume",
                    "Tags": [{"Key": k, "Value": v} for k, v in sorted(self.instance_tags.items())],
                },
            ]
            if self.instance_tags
            else [],
        }

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        template = ec2_call(
            ctx,
            self.key,
            "create_launch_template",
            LaunchTemplateName=self.name,
            LaunchTemplateData=self.template_data(ctx, want),
            TagSpecifications=self.tag_specs(ctx),
            ClientToken=idempotency_token(ctx.plan_name, self.key, *want["security_group_ids"]),
        )["LaunchTemplate"]
        return Live(
            key=self.key,
            id=template["LaunchTemplateId"],
            tags=ctx.tags_for(self),
            raw=template,
            fields=dict(want),
            outputs={"version": str(template.get("DefaultVersionNumber", 1))},
        )

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        if {"metadata", "root_volume", "security_group_ids"} & set(diff):
            data = self.template_data(ctx, want)
            # Same template and data, same token: a retried create is one version, not two.
            token = idempotency_token(ctx.plan_name, self.key, have.id, json.dumps(data, sort_keys=True))
            version = ec2_call(
                ctx,
                self.key,
                "create_launch_template_version",
                LaunchTemplateId=have.id,
                LaunchTemplateData=data,
                ClientToken=token,
            )["LaunchTemplateVersion"]["VersionNumber"]
            ec2_call(ctx, self.key, "modify_launch_template", LaunchTemplateId=have.id, DefaultVersion=str(version))
            have.outputs["version"] = str(version)
        if tags_changed(diff):
            self.set_tags(ctx, have, ctx.tags_for(self))
        have.fields.update({k: want[k] for k in ("metadata", "root_volume", "security_group_ids")})
        return have

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        ec2_call(ctx, have.key, "delete_launch_template", missing_ok=True, LaunchTemplateId=have.id)
