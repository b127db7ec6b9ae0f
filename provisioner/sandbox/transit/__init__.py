"""Transit Gateways as AWS runs them across accounts, in place of moto's single-account model.

moto keeps a Transit Gateway, its route tables and attachments inside one account's EC2
backend: a gateway shared through AWS RAM is invisible in the member account, an attachment
made there cannot name it, an attachment propagates into one route table at most, tags given
at creation are dropped, propagation never makes routes, and everything is `available` at
once. This extension answers the Transit Gateway operations from one store per region for
all accounts, as AWS does:

- Visibility: a gateway is seen by its owner and by the accounts a RAM resource share of the
  owner names (as account ids, the organization's ARN, or an OU ARN), read from moto's RAM
  backend; route tables, associations, propagations and routes only by the owner (RAM shares
  the gateway, not its tables). An attachment is seen by the account that made it (the VPC
  owner) and by the gateway's owner.
- Tags are each account's own (EC2's tags are per account: the owner's tags on a shared
  gateway do not show in the member account), kept in moto's tag store of the account.
- Options: with DefaultRouteTableAssociation/Propagation `disable` an attachment is neither
  associated nor propagated by itself; `AutoAcceptSharedAttachments=enable` makes an
  attachment from another account go `pending` -> `available` (otherwise it waits in
  `pendingAcceptance`, which the tool never uses).
- Routes: SearchTransitGatewayRoutes answers one propagated route per propagation, to the
  attached VPC's CIDR (read from moto's EC2 backend of the VPC's account).
- States, with the latency model's p50 x LATENCY_SCALE seconds (0: final at once):
  gateway `pending` -> `available` (`deleting` -> `deleted`), attachment `pending` ->
  `available` (`deleting` -> `deleted`). Deleting a gateway that still has attachments, or
  route tables other than its default one, is refused (IncorrectState), as AWS refuses it.
- EnableSharingWithAwsOrganization makes RAM a trusted service of the organization.
- CreateRoute naming a gateway the account can see (a shared one) records the target, where
  moto looks only in the caller's own backend and drops it.
"""

# Laid out as moto lays out a service: `models` (state, visibility, rendering), `gateways` and
# `attachments` (the handlers), `patches` (what is put into moto); no WSGI layer of its own.

from typing import Any

from provisioner.sandbox.transit.models import reset
from provisioner.sandbox.transit.patches import apply_patches

__all__ = ["reset", "wrap"]


def wrap(app: Any) -> Any:
    """The sandbox extension entry point (see server.EXTENSIONS): patches moto, adds no layer."""
    apply_patches()
    return app
