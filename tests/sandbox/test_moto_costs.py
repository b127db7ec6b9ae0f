"""moto's work made cheap (provisioner/sandbox/moto_costs.py) answers what moto answered."""

from __future__ import annotations

from typing import Any

import pytest

BUILT_IN_IMAGE = "ami-12c6146b"


def test_a_regions_images_are_moto_built_in_ones_and_load_at_first_use(boto: Any) -> None:
    ec2 = boto("ec2", "eu-west-1")
    tagging = boto("resourcegroupstaggingapi", "eu-west-1")
    # Nothing tagged before the catalog loads, as after: built-in images carry no tags.
    assert tagging.get_resources(ResourceTypeFilters=["ec2:image"])["ResourceTagMappingList"] == []
    images = {image["ImageId"] for image in ec2.describe_images()["Images"]}
    assert BUILT_IN_IMAGE in images and len(images) < 100  # moto's built-in list, not the region's catalog
    instance = ec2.run_instances(ImageId=BUILT_IN_IMAGE, MinCount=1, MaxCount=1, InstanceType="t3.micro")
    made = ec2.create_image(
        InstanceId=instance["Instances"][0]["InstanceId"],
        Name="golden",
        TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": "team", "Value": "platform"}]}],
    )["ImageId"]
    tagged = tagging.get_resources(ResourceTypeFilters=["ec2:image"])["ResourceTagMappingList"]
    assert [item["ResourceARN"].rsplit("/", 1)[1] for item in tagged] == [made]


def test_an_image_made_first_in_a_region_joins_the_built_in_ones(boto: Any) -> None:
    ec2 = boto("ec2", "ap-southeast-2")
    instance = ec2.run_instances(ImageId=BUILT_IN_IMAGE, MinCount=1, MaxCount=1, InstanceType="t3.micro")
    made = ec2.create_image(InstanceId=instance["Instances"][0]["InstanceId"], Name="first")["ImageId"]
    images = {image["ImageId"] for image in ec2.describe_images()["Images"]}
    assert {made, BUILT_IN_IMAGE} <= images


def test_eks_role_arns_of_an_unknown_partition_are_refused_and_known_ones_pass(boto: Any) -> None:
    from moto.eks import models

    boto("eks")  # the server (and its patches) is up
    models.validate_role_arn("arn:aws:iam::123456789012:role/eks")
    models.validate_role_arn("arn:aws-cn:iam::123456789012:role/eks")
    with pytest.raises(Exception, match="Invalid Role Arn"):
        models.validate_role_arn("arn:nowhere:iam::123456789012:role/eks")
