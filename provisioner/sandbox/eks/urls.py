"""EKS's REST paths (botocore's `eks` service model) and the handler of each."""

from __future__ import annotations

import re
from collections.abc import Callable

from provisioner.sandbox.eks import access_entries, addons, clusters, nodegroups, pod_identities, tags
from provisioner.sandbox.eks.protocol import Reply

NAME = r"(?P<name>[^/]+)"
ROUTES: list[tuple[str, re.Pattern[str], Callable[..., Reply | None]]] = [
    (method, re.compile(pattern), handler)
    for method, pattern, handler in (
        ("POST", r"/clusters", clusters.create_cluster),
        ("GET", rf"/clusters/{NAME}", clusters.describe_cluster),
        ("DELETE", rf"/clusters/{NAME}", clusters.delete_cluster),
        ("POST", rf"/clusters/{NAME}/update-config", clusters.update_cluster_config),
        ("POST", rf"/clusters/{NAME}/updates", clusters.update_cluster_version),
        ("GET", rf"/clusters/{NAME}/updates", clusters.list_updates),
        ("GET", rf"/clusters/{NAME}/updates/(?P<update_id>[^/]+)", clusters.describe_update),
        ("POST", rf"/clusters/{NAME}/encryption-config/associate", clusters.associate_encryption_config),
        ("POST", rf"/clusters/{NAME}/node-groups", nodegroups.create_nodegroup),
        ("DELETE", rf"/clusters/{NAME}/node-groups/(?P<nodegroup>[^/]+)", nodegroups.delete_nodegroup),
        (
            "POST",
            rf"/clusters/{NAME}/node-groups/(?P<nodegroup>[^/]+)/update-config",
            nodegroups.update_nodegroup_config,
        ),
        (
            "POST",
            rf"/clusters/{NAME}/node-groups/(?P<nodegroup>[^/]+)/update-version",
            nodegroups.update_nodegroup_version,
        ),
        ("GET", r"/addons/supported-versions", addons.describe_addon_versions),
        ("POST", rf"/clusters/{NAME}/addons", addons.create_addon),
        ("GET", rf"/clusters/{NAME}/addons", addons.list_addons),
        ("GET", rf"/clusters/{NAME}/addons/(?P<addon>[^/]+)", addons.describe_addon),
        ("DELETE", rf"/clusters/{NAME}/addons/(?P<addon>[^/]+)", addons.delete_addon),
        ("POST", rf"/clusters/{NAME}/addons/(?P<addon>[^/]+)/update", addons.update_addon),
        ("GET", r"/access-policies", access_entries.list_access_policies),
        ("POST", rf"/clusters/{NAME}/access-entries", access_entries.create_access_entry),
        ("GET", rf"/clusters/{NAME}/access-entries", access_entries.list_access_entries),
        # Principal and policy ARNs arrive URL-encoded; PATH_INFO has them decoded, slashes
        # included, so the principal is everything up to "/access-policies".
        (
            "DELETE",
            rf"/clusters/{NAME}/access-entries/(?P<principal>.+?)/access-policies/(?P<policy>.+)",
            access_entries.disassociate_access_policy,
        ),
        (
            "POST",
            rf"/clusters/{NAME}/access-entries/(?P<principal>.+)/access-policies",
            access_entries.associate_access_policy,
        ),
        (
            "GET",
            rf"/clusters/{NAME}/access-entries/(?P<principal>.+)/access-policies",
            access_entries.list_associated_access_policies,
        ),
        ("GET", rf"/clusters/{NAME}/access-entries/(?P<principal>.+)", access_entries.describe_access_entry),
        ("POST", rf"/clusters/{NAME}/access-entries/(?P<principal>.+)", access_entries.update_access_entry),
        ("DELETE", rf"/clusters/{NAME}/access-entries/(?P<principal>.+)", access_entries.delete_access_entry),
        ("POST", rf"/clusters/{NAME}/pod-identity-associations", pod_identities.create_pod_identity_association),
        ("GET", rf"/clusters/{NAME}/pod-identity-associations", pod_identities.list_pod_identity_associations),
        (
            "GET",
            rf"/clusters/{NAME}/pod-identity-associations/(?P<association_id>[^/]+)",
            pod_identities.describe_pod_identity_association,
        ),
        (
            "POST",
            rf"/clusters/{NAME}/pod-identity-associations/(?P<association_id>[^/]+)",
            pod_identities.update_pod_identity_association,
        ),
        (
            "DELETE",
            rf"/clusters/{NAME}/pod-identity-associations/(?P<association_id>[^/]+)",
            pod_identities.delete_pod_identity_association,
        ),
        ("GET", r"/tags/(?P<arn>.+)", tags.list_tags_for_resource),
        ("POST", r"/tags/(?P<arn>.+)", tags.tag_resource),
        ("DELETE", r"/tags/(?P<arn>.+)", tags.untag_resource),
    )
]
