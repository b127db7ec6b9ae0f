"""Operations on what a plan built, outside apply and destroy (the CLI's `snapshot`, `restore`).

They use the plan only to find its resources (by deterministic name and ownership tags) and
never change what the plan owns.
"""

from provisioner.operations.rds import parse_time, restore_to_time, take_snapshot

__all__ = ["parse_time", "restore_to_time", "take_snapshot"]
