"""DescribeLaunchTemplates shows a template's current tags, as EC2 does (moto kept those given
at creation, so a tag added or removed later never showed)."""

from __future__ import annotations


def test_describe_launch_templates_shows_tags_added_and_removed_later(boto) -> None:
    ec2 = boto("ec2")
    spec = [{"ResourceType": "launch-template", "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]}]
    template = ec2.create_launch_template(LaunchTemplateName="t", LaunchTemplateData={}, TagSpecifications=spec)[
        "LaunchTemplate"
    ]
    assert template["Tags"] == spec[0]["Tags"]
    ec2.delete_tags(Resources=[template["LaunchTemplateId"]], Tags=[{"Key": "a"}])
    ec2.create_tags(Resources=[template["LaunchTemplateId"]], Tags=[{"Key": "c", "Value": "3"}])
    (described,) = ec2.describe_launch_templates(LaunchTemplateIds=[template["LaunchTemplateId"]])["LaunchTemplates"]
    assert sorted((t["Key"], t["Value"]) for t in described["Tags"]) == [("b", "2"), ("c", "3")]
