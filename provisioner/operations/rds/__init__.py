"""Database operations outside apply/destroy: a manual snapshot, a point-in-time restore, the
restore drills. One module per concern: snapshots.py, restore.py, drills.py; common.py has
what they share.

`take_snapshot` makes a manual snapshot of the plan's instance and waits until it is
`available`. Its default name, `<identifier>-manual-<UTC time>`, is unique per moment; a
name that is taken is an error (snapshots are never overwritten).

`restore_to_time` restores the plan's database as it was at a moment (or at the latest
restorable time) into a new instance; the plan's own instance is never touched, and the
new one is not the plan's: it carries the plan's tags but not its ownership tags, so neither
`apply` nor `destroy` adopts or deletes it (a restored database may be about to become the
real one). It gets the plan's security settings (gp3, not public, IAM auth, log exports,
copy tags, deletion protection per plan, master password managed by RDS, class and
Multi-AZ per plan).

- In the primary region it restores from the instance's automated backups (or, once the
  instance is deleted, from its retained ones) with the same DB subnet group, security
  group and parameter group as the instance.
- In the DR region it restores from the replicated automated backups
  (`SourceDBInstanceAutomatedBackupsArn`), encrypted with the DR key. The plan has no network
  there, so the restore uses, in this order: the subnet group and security groups passed in;
  a DB subnet group with the plan's name and security groups tagged as the plan's database
  group in that region (a DR network prepared for it); or, only if asked
  (`use_default_network`), the region's default VPC with its default security group, still
  not publicly accessible. Otherwise it stops and says what is missing. The parameter group
  is copied there (same name, family and parameters) if that region has none of that name.

Times are checked against the backup's restorable window before anything is created; the
error names the window.

A restored instance is a drill until someone makes it the real database: `list_drills` finds
the plan's (tagged `provisioner:restored-for=<plan>`, or, for older ones, restored from the
plan's instance) in both regions, `delete_drill` deletes one. A drill left in the plan's
subnets blocks `destroy` (its DB subnet group, then the VPC), which names it.
"""

from provisioner.operations.rds.common import TAG_RESTORE_TIME, TAG_RESTORED_FOR, TAG_RESTORED_FROM, parse_time
from provisioner.operations.rds.drills import delete_drill, list_drills
from provisioner.operations.rds.restore import restore_to_time
from provisioner.operations.rds.snapshots import take_snapshot

__all__ = [
    "TAG_RESTORED_FOR",
    "TAG_RESTORED_FROM",
    "TAG_RESTORE_TIME",
    "delete_drill",
    "list_drills",
    "parse_time",
    "restore_to_time",
    "take_snapshot",
]
