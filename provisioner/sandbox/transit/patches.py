"""What this package patches into moto: its handlers in place of moto's EC2 Transit Gateway
responses, routes that may target a shared gateway, and RAM's organization sharing."""

from __future__ import annotations

import inspect
from typing import Any

from provisioner.sandbox.transit import attachments, gateways
from provisioner.sandbox.transit.models import lock, visible_gateway

_applied = False  # moto's classes are patched once per process


def apply_patches() -> None:
    global _applied
    with lock:
        if _applied:
            return
        from moto.ec2.responses.transit_gateway_attachments import TransitGatewayAttachment
        from moto.ec2.responses.transit_gateway_route_tables import TransitGatewayRouteTable
        from moto.ec2.responses.transit_gateways import TransitGateways

        for cls, handlers in (
            (
                TransitGateways,
                (
                    gateways.create_transit_gateway,
                    gateways.describe_transit_gateways,
                    gateways.delete_transit_gateway,
                    gateways.modify_transit_gateway,
                ),
            ),
            (
                TransitGatewayRouteTable,
                (
                    gateways.create_transit_gateway_route_table,
                    gateways.describe_transit_gateway_route_tables,
                    gateways.delete_transit_gateway_route_table,
                    attachments.get_transit_gateway_route_table_associations,
                    attachments.get_transit_gateway_route_table_propagations,
                    attachments.search_transit_gateway_routes,
                ),
            ),
            (
                TransitGatewayAttachment,
                (
                    attachments.create_transit_gateway_vpc_attachment,
                    attachments.describe_transit_gateway_vpc_attachments,
                    attachments.describe_transit_gateway_attachments,
                    attachments.delete_transit_gateway_vpc_attachment,
                    attachments.associate_transit_gateway_route_table,
                    attachments.disassociate_transit_gateway_route_table,
                    attachments.enable_transit_gateway_route_table_propagation,
                    attachments.disable_transit_gateway_route_table_propagation,
                    attachments.get_transit_gateway_attachment_propagations,
                ),
            ),
        ):
            for handler in handlers:
                setattr(cls, handler.__name__, handler)
        _patch_routes()
        _patch_ram_sharing()
        _applied = True


class _GatewayRef:
    """What moto's Route keeps of its transit gateway target: the id."""

    def __init__(self, gateway_id: str) -> None:
        self.id = gateway_id


def _patch_routes() -> None:
    from moto.ec2.models.route_tables import RouteBackend

    original_create, original_replace = RouteBackend.create_route, RouteBackend.replace_route

    def target(self: Any, gateway_id: str | None) -> Any:
        if gateway_id is None:
            return None
        with lock:
            visible_gateway(self.account_id, self.region_name, gateway_id)
        return _GatewayRef(gateway_id)

    def patched(original: Any) -> Any:
        signature = inspect.signature(original)

        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            gateway_id = signature.bind(self, *args, **kwargs).arguments.get("transit_gateway_id")
            ref = target(self, gateway_id)
            route = original(self, *args, **kwargs)
            if ref is not None:
                route.transit_gateway = ref
            return route

        return call

    create_route, replace_route = patched(original_create), patched(original_replace)

    RouteBackend.create_route = create_route  # type: ignore[method-assign]
    RouteBackend.replace_route = replace_route  # type: ignore[method-assign]


def _patch_ram_sharing() -> None:
    """EnableSharingWithAwsOrganization makes RAM a trusted service of the organization, as
    AWS does (ListAWSServiceAccessForOrganization then lists ram.amazonaws.com); moto only
    answers true."""
    from moto.ram.models import ResourceAccessManagerBackend

    original = ResourceAccessManagerBackend.enable_sharing_with_aws_organization

    def enable_sharing_with_aws_organization(self: Any) -> Any:
        result = original(self)
        self.organizations_backend.enable_aws_service_access(ServicePrincipal="ram.amazonaws.com")
        return result

    ResourceAccessManagerBackend.enable_sharing_with_aws_organization = enable_sharing_with_aws_organization  # type: ignore[method-assign]
