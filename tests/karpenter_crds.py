"""Karpenter CRDs for tests: the official files from ../shared when present, else a minimal
stand-in (permissive schemas) whose digests the test pins. Never copied into the repository."""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from provisioner.steps.karpenter import crds, kinds

VERSION = "1.14.1"


def stand_in_crds(directory: Path) -> dict[str, str]:
    """Minimal CRDs for the three pinned file names (permissive schemas); returns digests."""
    directory.mkdir(parents=True, exist_ok=True)
    digests = {}
    for file in crds.crd_files(VERSION):
        name = kinds.crd_name_of(file)
        plural, group = name.split(".", 1)
        kind = {"nodepools": "NodePool", "nodeclaims": "NodeClaim", "ec2nodeclasses": "EC2NodeClass"}[plural]
        crd = {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": name},
            "spec": {
                "group": group,
                "scope": "Cluster",
                "names": {
                    "kind": kind,
                    "listKind": f"{kind}List",
                    "plural": plural,
                    "singular": kind.lower(),
                    "categories": ["karpenter"],
                },
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "subresources": {"status": {}},
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "properties": {
                                    "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                                },
                            }
                        },
                    }
                ],
            },
        }
        data = ("---\n" + yaml.safe_dump(crd)).encode()
        (directory / file).write_bytes(data)
        digests[file] = hashlib.sha256(data).hexdigest()
    return digests
