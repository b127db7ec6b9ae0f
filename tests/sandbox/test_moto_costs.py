"""moto's work made cheap (provisioner/sandbox/moto_costs.py) answers what moto answered."""

from __future__ import annotations

import base64
import os
import re
import threading
from typing import Any

import moto
import pytest
from moto.core.base_backend import backend_lock
from moto.ec2 import utils as ec2_utils
from moto.kms.models import kms_backends
from moto.moto_api._internal import mock_random

from provisioner.sandbox.moto_costs import KeyPairOnDemand

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


def test_requests_to_existing_backends_do_not_wait_while_another_is_being_built(boto: Any) -> None:
    ec2, iam = boto("ec2"), boto("iam")
    ec2.describe_vpcs()  # this account's EC2 and IAM backends exist
    iam.list_roles()
    answers: list[Any] = []
    # What building a backend does: hold moto's backend lock (an account's EC2 takes 0.1-1 s).
    with backend_lock:
        thread = threading.Thread(target=lambda: answers.extend([ec2.describe_vpcs(), iam.list_roles()]))
        thread.start()
        thread.join(timeout=20)
        waited = thread.is_alive()
    thread.join()
    assert not waited and len(answers) == 2


def test_requests_are_dispatched_without_listing_moto_s_package_again(
    boto: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One call of each protocol moto dispatches differently: query (EC2, STS), JSON target
    # (KMS) and REST-JSON (EKS).
    calls = (
        lambda: boto("ec2").describe_vpcs()["Vpcs"],
        lambda: boto("kms").list_keys()["Keys"],
        lambda: boto("eks").list_clusters()["clusters"],
        lambda: boto("sts").get_caller_identity()["Account"],
    )
    for call in calls:  # moto loads each service's model on its first request: not counted
        call()
    listed: list[str] = []
    original = os.listdir

    def listdir(path: Any = ".") -> list[str]:
        listed.append(os.path.abspath(str(path)))
        return original(path)

    monkeypatch.setattr(os, "listdir", listdir)
    answers = [call() for call in calls]
    assert answers[0] is not None and answers[2] == [] and answers[3]  # still dispatched as before
    assert os.path.dirname(moto.__file__) not in listed


def test_ec2_ids_keep_their_shape_and_repeat_with_moto_s_seed(boto: Any) -> None:
    boto("ec2").describe_vpcs()  # the server is up: its patches are applied
    assert ec2_utils.random_resource_id.__module__ == "provisioner.sandbox.moto_costs"
    ids = [ec2_utils.random_id("vpc") for _ in range(200)]
    assert all(re.fullmatch(r"vpc-[0-9a-f]{17}", i) for i in ids)
    assert {c for i in ids for c in i[4:]} == set("0123456789abcdef")
    mock_random.seed(7)
    first = ec2_utils.random_id("subnet")
    mock_random.seed(7)
    assert ec2_utils.random_id("subnet") == first


def _key(boto: Any, key_id: str) -> Any:
    account = boto("sts").get_caller_identity()["Account"]
    return kms_backends[account]["us-east-1"].keys[key_id]


def test_a_symmetric_key_makes_no_key_pair_and_still_encrypts(boto: Any) -> None:
    kms = boto("kms")
    key_id = kms.create_key(KeySpec="SYMMETRIC_DEFAULT")["KeyMetadata"]["KeyId"]
    pair = _key(boto, key_id).private_key
    assert isinstance(pair, KeyPairOnDemand) and not pair.made
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"secret")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"
    assert kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")["Plaintext"]
    assert not pair.made
    # moto answers GetPublicKey even for a symmetric key (KMS refuses it): as before, with the
    # pair made then.
    assert kms.get_public_key(KeyId=key_id)["PublicKey"]
    assert pair.made


def test_an_asymmetric_key_has_its_key_pair_and_signs(boto: Any) -> None:
    kms = boto("kms")
    key_id = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    assert not isinstance(_key(boto, key_id).private_key, KeyPairOnDemand)
    public = kms.get_public_key(KeyId=key_id)["PublicKey"]
    assert base64.b64encode(public)
    signature = kms.sign(KeyId=key_id, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    assert kms.verify(KeyId=key_id, Message=b"m", Signature=signature, SigningAlgorithm="RSASSA_PSS_SHA_256")[
        "SignatureValid"
    ]


def test_a_key_pair_on_demand_is_made_once_on_first_use() -> None:
    made: list[str] = []

    class Pair:
        def public_key(self) -> str:
            return "public"

    def make(spec: str) -> Pair:
        made.append(spec)
        return Pair()

    pair = KeyPairOnDemand("SYMMETRIC_DEFAULT", make)
    assert not pair.made and made == []
    assert pair.public_key() == "public" and pair.public_key() == "public"
    assert made == ["SYMMETRIC_DEFAULT"] and pair.made


def test_aws_managed_policies_are_each_accounts_own_copies_made_at_first_read(boto: Any) -> None:
    from moto.iam.models import iam_backends

    arn = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    account = boto("sts").get_caller_identity()["Account"]
    first = boto("iam").get_policy(PolicyArn=arn)["Policy"]
    # Another account's backend, as moto makes it for the lookup of a key: nothing copied yet.
    other = iam_backends["111111111111"]["global"]
    assert other.managed_policies._pending is not None
    role = other.create_role("r", "{}", "/", None, "", [], None)
    other.attach_role_policy(arn, role.name)
    # Same id in both accounts (as in AWS); the attachment is counted in one only.
    mine = iam_backends[account]["global"]
    assert other.managed_policies[arn].id == mine.managed_policies[arn].id == first["PolicyId"]
    assert (other.managed_policies[arn].attachment_count, mine.managed_policies[arn].attachment_count) == (1, 0)
    assert len(other.aws_managed_policies) == len(mine.aws_managed_policies) > 1000
