"""The sandbox's RDS: what moto 5.2 lacks or gets wrong for the rds step, made to act like AWS.

A WSGI layer in front of moto that recognises RDS calls (SigV4 credential scope `/rds/`, the
query protocol's `Action` form field) and:

- answers `StartDBInstanceAutomatedBackupsReplication` / `StopDBInstanceAutomatedBackupsReplication`
  (called in the destination region, as on AWS) and `DescribeDBInstanceAutomatedBackups` (both
  regions: the source's `active` backup and the destination's replicated one, `pending` for the
  latency model's p50 600 s x `LATENCY_SCALE`, then `replicating`; `retained` once stopped or
  its source is deleted), and shows the replication on the source instance
  (`DBInstanceAutomatedBackupsReplications` in DescribeDBInstances);
- `RestoreDBInstanceToPointInTime`: validates `RestoreTime` against the backup's restorable
  window (moto ignores it) and restores from the replicated backup in the DR region
  (`SourceDBInstanceAutomatedBackupsArn`), which moto cannot; the new instance takes only the
  tags given (moto copies the source's, ownership tags included);
- `ModifyDBInstance` `DBPortNumber` changes the port at once, as AWS does whatever
  `ApplyImmediately` says (moto ignores it);
- `ModifyDBInstance` with `ApplyImmediately` false: the changes AWS defers to the maintenance
  window (class, storage, Multi-AZ, engine version, ...) go to `PendingModifiedValues` instead
  of being applied at once; a later call with `ApplyImmediately` true applies them all, as on
  AWS (moto always applies at once). `run_maintenance()` plays the window arriving;
- `CreateDBInstance` / `ModifyDBInstance`: PostgreSQL engine versions and instance classes are
  checked as RDS does (moto accepts `99.1` and `db.foo.bar`), and each instance gets its own
  `DbiResourceId` (moto gives every instance the same one);
- `DescribeDBParameterGroups` for a name that does not exist answers DBParameterGroupNotFound,
  as AWS does (moto answers an empty list);
- with `LATENCY_SCALE` above 0, a new or restored instance is `creating` for the latency
  model's p50 (780 s) x scale, and refuses ModifyDBInstance and backup replication meanwhile,
  as AWS does (moto makes it `available` at once).

Responses are written from botocore's RDS service model (structure member order, list member
names, the 2014-10-31 namespace), so boto3 parses them exactly as it parses AWS's.
Everything else passes through to moto untouched.
"""
# Laid out as moto lays out a service: `models` (state, settings, moto access), `wire` (the
# query protocol), `engines` (what RDS offers), `responses` (the WSGI layer and its handlers).

from provisioner.sandbox.rds.models import reset, run_maintenance
from provisioner.sandbox.rds.responses import wrap

__all__ = ["reset", "run_maintenance", "wrap"]
