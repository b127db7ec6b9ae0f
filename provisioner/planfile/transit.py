"""Networking between accounts, as the plans say it (issue 18): checks and the segment matrix.

The Shared Services plan's `network` makes a tooling VPC and the Transit Gateway; each
environment plan with `network.transit.attach` attaches its VPC to it, in its `segment`
(`prod` or `nonprod`). The gateway has one route table per segment plus `shared`:

- an environment's attachment is associated with its segment's table and propagates into
  `shared` only;
- the shared VPC's attachment is associated with `shared` and propagates into `prod` and
  `nonprod`.

So a segment's table holds a route to the shared VPC and nothing else: prod and non-prod
each reach the shared VPC and back, never each other. `segment_matrix` derives who reaches
whom from those associations and propagations (the plan's view); `check` compares it with
the live gateway's routes.

Nothing here touches AWS.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping

from provisioner.planfile.issues import PlanIssue
from provisioner.planfile.model import EnvironmentPlan, SharedNetworkSpec, SharedPlan

SEGMENTS = ("prod", "nonprod")
SHARED_SEGMENT = "shared"
ROUTE_TABLES = (*SEGMENTS, SHARED_SEGMENT)
SHARED_PLAN = "shared"  # the Shared Services plan an environment attaches to: plans/shared.yaml

Finding = tuple[tuple[str | int, ...], str, str | None]


def propagations(segment: str) -> tuple[str, ...]:
    """The route tables an attachment of `segment` propagates its VPC's CIDR into."""
    return SEGMENTS if segment == SHARED_SEGMENT else (SHARED_SEGMENT,)


def check_shared_network(net: SharedNetworkSpec, region: str) -> Iterator[Finding]:
    vpc = ipaddress.IPv4Network(net.cidr)
    if not 16 <= vpc.prefixlen <= 28:
        yield ("network", "cidr"), f"a /{vpc.prefixlen} VPC", "a prefix from /16 to /28"
    if not vpc.is_private:
        yield (
            ("network", "cidr"),
            f"{net.cidr} is not a private (RFC 1918) range",
            "10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16",
        )
    for index, az in enumerate(net.availability_zones):
        if not az.startswith(region):
            yield (
                ("network", "availability_zones", index),
                f"{az} is not in region {region}",
                f"zones named {region}a, ...",
            )
    if len(set(net.availability_zones)) != len(net.availability_zones):
        yield ("network", "availability_zones"), "a zone is listed twice", "distinct zones"
    if len(net.private_subnets) != len(net.availability_zones):
        yield (
            ("network", "private_subnets"),
            f"{len(net.private_subnets)} subnets for {len(net.availability_zones)} availability zones",
            "one subnet per availability zone, in the same order",
        )
    for index, route in enumerate(net.transit_routes):
        if ipaddress.IPv4Network(route).overlaps(vpc) and not vpc.subnet_of(ipaddress.IPv4Network(route)):
            yield (
                ("network", "transit_routes", index),
                f"{route} overlaps the shared VPC {net.cidr}",
                "a block holding the environments' VPCs",
            )
    seen: list[ipaddress.IPv4Network] = []
    for index, cidr in enumerate(net.private_subnets):
        subnet = ipaddress.IPv4Network(cidr)
        if not subnet.subnet_of(vpc):
            yield (
                ("network", "private_subnets", index),
                f"{cidr} is outside the VPC {net.cidr}",
                f"a block inside {net.cidr}",
            )
        elif any(subnet.overlaps(other) for other in seen):
            yield (
                ("network", "private_subnets", index),
                f"{cidr} overlaps another subnet",
                "subnets that do not overlap",
            )
        seen.append(subnet)


def attached_issues(
    shared: SharedNetworkSpec | None, environments: Mapping[str, EnvironmentPlan]
) -> Iterator[tuple[str, str, str]]:
    """(plan, problem, allowed) for every attached VPC whose CIDR overlaps another attached
    VPC's (the shared one included), or that the shared VPC's `transit_routes` do not cover."""
    attached = {name: spec for name, spec in environments.items() if spec.network.transit.attach}
    if not attached:
        return
    if shared is None:
        for name in attached:
            yield (
                name,
                "network.transit.attach is on but the shared plan has no `network` (no Transit Gateway)",
                "attach: false, or a `network` in plans/shared.yaml",
            )
        return
    vpcs = [(SHARED_PLAN, ipaddress.IPv4Network(shared.cidr))]
    vpcs += [(name, ipaddress.IPv4Network(spec.network.cidr)) for name, spec in sorted(attached.items())]
    for i, (name, cidr) in enumerate(vpcs):
        for other, other_cidr in vpcs[:i]:
            if cidr.overlaps(other_cidr):
                yield (
                    name,
                    f"{cidr} overlaps {other_cidr} of plan {other}, both attached to the Transit Gateway",
                    "a distinct, non-overlapping range per attached VPC",
                )
        if name != SHARED_PLAN and not any(cidr.subnet_of(ipaddress.IPv4Network(r)) for r in shared.transit_routes):
            yield (
                name,
                f"{cidr} is not inside the shared VPC's transit_routes ({', '.join(shared.transit_routes)})",
                "a range inside them, or add one to shared.yaml's network.transit_routes",
            )


def segment_matrix(segments: Mapping[str, str]) -> dict[str, dict[str, bool]]:
    """Who reaches whom through the gateway, from `{vpc name: segment}` (the shared VPC in
    SHARED_SEGMENT): A reaches B when A's table holds B's route (B propagates into A's
    segment) and B's table holds A's (return traffic)."""

    def route(source: str, destination: str) -> bool:
        return segments[source] in propagations(segments[destination])

    return {a: {b: a != b and route(a, b) and route(b, a) for b in segments} for a in segments}


def format_matrix(matrix: Mapping[str, Mapping[str, bool]]) -> list[str]:
    """`from -> to` lines, yes/no, for plan and check output."""
    names = list(matrix)
    width = max((len(n) for n in names), default=4) + 2
    lines = ["from \\ to".ljust(width + 4) + "".join(n.ljust(width) for n in names)]
    for a in names:
        lines.append(
            a.ljust(width + 4)
            + "".join(("-" if a == b else "yes" if matrix[a][b] else "no").ljust(width) for b in names)
        )
    return lines


def transit_plan_issues(plans: list) -> list:
    """`validate`'s cross-plan check for the Transit Gateway: `attached_issues` over the
    loaded plans (the shared plan among them, else none is attached)."""

    shared = next((p for p in plans if isinstance(p.spec, SharedPlan) and p.name == SHARED_PLAN), None)
    environments = {p.name: p.spec for p in plans if isinstance(p.spec, EnvironmentPlan)}
    if shared is None:
        return []
    paths = {p.name: str(p.path) for p in plans}
    return [
        PlanIssue(paths[name], None, "network.cidr", problem, allowed)
        for name, problem, allowed in attached_issues(shared.spec.network, environments)
    ]


# `check` always lists this control's finding: its detail is the reachability matrix.
REACHABILITY_CONTROL = "PROV.18"


def reachability(plan: object) -> dict[str, dict[str, bool]] | None:
    """The matrix `plan` shows: for the shared plan, between the segments; for an attached
    environment, between it, the shared VPC and the other segment. None: no transit."""
    spec = getattr(plan, "spec", None)
    if isinstance(spec, SharedPlan) and spec.network is not None:
        return segment_matrix({s: s for s in ROUTE_TABLES})
    if isinstance(spec, EnvironmentPlan) and spec.network.transit.attach:
        segment = spec.network.transit.segment
        other = next(s for s in SEGMENTS if s != segment)
        return segment_matrix(
            {str(getattr(plan, "name", segment)): segment, SHARED_SEGMENT: SHARED_SEGMENT, f"{other} (segment)": other}
        )
    return None


def reachability_lines(plan: object) -> list[str]:
    matrix = reachability(plan)
    if matrix is None:
        return []
    return [
        "Reachability through the Transit Gateway (rows reach columns):",
        *(f"  {line}" for line in format_matrix(matrix)),
    ]
