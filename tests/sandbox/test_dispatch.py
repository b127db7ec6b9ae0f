"""The sandbox server's request dispatch: moto's package directory is listed once, not for
every request under the dispatcher's lock (server._list_moto_modules_once)."""

from __future__ import annotations

import os
from typing import Any

import moto
import pytest


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
