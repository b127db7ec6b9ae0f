"""The Resource Groups Tagging API for the resource types the tool reads tags of in bulk.

Discovery reads the tags of several kinds with one GetResources per account and region
(`aws/discovery.py: tagged_resources`) instead of one ListTagsForResource per resource. AWS
answers it for every type the tool makes; moto 5.2 lacks some, and names one differently:

- `events:rule`: moto yields only event buses; EventBridge rules are added;
- `rds:pg`, `rds:subgrp`: moto yields instances, clusters, proxies and snapshots only;
  DB parameter groups and DB subnet groups are added;
- `ec2:launch-template`: moto yields no launch templates; they are added, with the tags
  CreateTags and DeleteTags keep (as DescribeLaunchTemplates shows them, sandbox/fidelity.py);
- `logs:log-group`: moto calls the type `logs:loggroup`; AWS's name (the ARN's resource type)
  is used, so a filter written for AWS matches here too.

The extension is a patch of moto's backends (their `iter_tagged_resources`), not a WSGI
layer: `wrap` applies it once and returns the app unchanged; there is no state to reset.
https://docs.aws.amazon.com/resourcegroupstagging/latest/APIReference/supported-services.html
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

_lock = threading.Lock()
_applied = False


def _events_with_rules(original: Callable[[Any], Iterator[Any]]) -> Callable[[Any], Iterator[Any]]:
    from moto.core.resource_tagging import TaggedResource

    def iter_tagged_resources(self: Any) -> Iterator[Any]:
        yield from original(self)
        for bus in list(self.event_buses.values()):
            for rule in list(bus.rules.values()):
                yield TaggedResource(
                    arn=rule.arn, tags=self.tagger.get_tag_dict_for_resource(rule.arn), resource_type="events:rule"
                )

    return iter_tagged_resources


def _rds_with_groups(original: Callable[[Any], Iterator[Any]]) -> Callable[[Any], Iterator[Any]]:
    from moto.core.resource_tagging import TaggedResource

    def iter_tagged_resources(self: Any) -> Iterator[Any]:
        yield from original(self)
        for resource_type, groups in (("rds:pg", self.db_parameter_groups), ("rds:subgrp", self.subnet_groups)):
            for group in list(groups.values()):
                yield TaggedResource(
                    arn=group.arn,
                    tags={tag["Key"]: tag["Value"] for tag in group.get_tags()},
                    resource_type=resource_type,
                )

    return iter_tagged_resources


def _ec2_with_launch_templates(original: Callable[[Any], Iterator[Any]]) -> Callable[[Any], Iterator[Any]]:
    from moto.core.resource_tagging import TaggedResource

    def iter_tagged_resources(self: Any) -> Iterator[Any]:
        yield from original(self)
        for template in list(self.launch_templates.values()):
            yield TaggedResource(
                arn=f"arn:{self.partition}:ec2:{self.region_name}:{self.account_id}:launch-template/{template.id}",
                tags=dict(self.tags.get(template.id, {})),
                resource_type="ec2:launch-template",
            )

    return iter_tagged_resources


def _logs_named_as_aws(original: Callable[[Any], Iterator[Any]]) -> Callable[[Any], Iterator[Any]]:
    def iter_tagged_resources(self: Any) -> Iterator[Any]:
        for resource in original(self):
            if resource.resource_type == "logs:loggroup":
                resource.resource_type = "logs:log-group"
            yield resource

    return iter_tagged_resources


def apply_patches() -> None:
    global _applied
    with _lock:
        if _applied:
            return
        from moto.ec2.models import EC2Backend
        from moto.events.models import EventsBackend
        from moto.logs.models import LogsBackend
        from moto.rds.models import RDSBackend

        EventsBackend.iter_tagged_resources = _events_with_rules(EventsBackend.iter_tagged_resources)  # type: ignore[method-assign,assignment]
        RDSBackend.iter_tagged_resources = _rds_with_groups(RDSBackend.iter_tagged_resources)  # type: ignore[method-assign,assignment]
        EC2Backend.iter_tagged_resources = _ec2_with_launch_templates(EC2Backend.iter_tagged_resources)  # type: ignore[method-assign,assignment]
        LogsBackend.iter_tagged_resources = _logs_named_as_aws(LogsBackend.iter_tagged_resources)  # type: ignore[method-assign,assignment]
        _applied = True


def wrap(app: Callable[..., Any]) -> Callable[..., Any]:
    apply_patches()
    return app


def reset() -> None:
    """Nothing to forget: the patch keeps no state of its own."""
