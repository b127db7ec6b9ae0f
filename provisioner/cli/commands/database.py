"""`snapshot` and `restore`: operations on a bad day (operations/rds/), under the plan's lock
and journal; `restore --list` and `--delete` for the drills restore made."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from provisioner import paths
from provisioner.cli.exit_codes import EXIT_ERROR, EXIT_OK
from provisioner.cli.prompts import confirm, is_terminal
from provisioner.cli.render import ProgressReporter
from provisioner.cli.session import make_session
from provisioner.planfile import EnvironmentPlan, Plan, load_plan

# aws/, engine's runner and operations/ (boto3) are imported inside the commands: the parser
# imports every command module, and commands that make no call should not pay for them.


def cmd_database(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`snapshot` and `restore`: operations on a bad day, under the plan's lock and journal."""
    from provisioner.engine import PermanentError, RunContext
    from provisioner.engine.journal import Journal
    from provisioner.operations import rds as operations
    from provisioner.operations.locking import plan_lock

    plan = load_plan(args.plans[0], args.plans_dir)
    if not isinstance(plan.spec, EnvironmentPlan):
        raise PermanentError(f"plan {plan.name} is a {plan.kind} plan and has no database")
    drills = args.command == "restore" and (args.list_drills or args.delete_drill)
    if args.command == "restore" and not drills and not args.to:
        raise PermanentError(
            "restore needs --to TIME (or `latest`), or --list / --delete NAME for drills",
            hint=f"provisioner restore {plan.name} --to latest --as {plan.name}-drill",
        )
    if args.command == "restore" and args.list_drills:
        return list_drills(args, plan, out)
    if args.command == "restore" and args.delete_drill and not args.yes:
        if not is_terminal():
            raise PermanentError(
                f"deleting drill {args.delete_drill} needs confirmation and there is no terminal", hint="pass --yes"
            )
        if not confirm(
            f"Type the instance name ({args.delete_drill}) to delete it and its backups: ", args.delete_drill
        ):
            print("Cancelled; nothing changed.", file=out)
            return EXIT_ERROR
    target_region = args.region if args.command == "restore" else None
    when = operations.parse_time(args.to) if args.command == "restore" and not drills else None
    if args.command == "restore":
        args.region = None  # --region is where to restore to; the session works from the plan's region
    lock = plan_lock(
        plan,
        args.command,
        session=lambda: make_session(args, plan),
        timeout=args.lock_timeout,
        notify=lambda message: print(message, file=err, flush=True),
    )
    with lock:
        journal = Journal(paths.subdir("runs"), plan.name, args.command)
        status = "error"
        try:
            from provisioner.aws.accounts import session_for_plan

            session = session_for_plan(make_session(args, plan, journal), plan)
            ctx = RunContext(
                plan=plan, aws=session, reporter=ProgressReporter(err, args.verbose), journal=journal, dry_run=False
            )
            if args.command == "snapshot":
                result = operations.take_snapshot(ctx, plan, name=args.name)
            elif args.delete_drill:
                result = operations.delete_drill(ctx, plan, args.delete_drill)
            else:
                result = operations.restore_to_time(
                    ctx,
                    plan,
                    when,
                    region=target_region,
                    as_name=args.as_name,
                    subnet_group=args.subnet_group,
                    security_group_ids=args.security_groups,
                    use_default_network=args.default_network,
                )
            status = "ok"
        finally:
            journal.close(status)
    if args.output == "json":
        print(json.dumps(result, indent=2, default=str), file=out)
    else:
        print(", ".join(f"{k}: {v}" for k, v in result.items() if v is not None), file=out)
    return EXIT_OK


def list_drills(args: argparse.Namespace, plan: Plan, out: TextIO) -> int:
    """`restore ENV --list`: the plan's restore drills (read-only: no lock, no journal)."""
    from provisioner.aws.accounts import session_for_plan
    from provisioner.engine import RunContext
    from provisioner.operations import rds as operations

    session = session_for_plan(make_session(args, plan), plan)
    drills = operations.list_drills(RunContext(plan=plan, aws=session), plan)
    if args.output == "json":
        print(json.dumps(drills, indent=2, default=str), file=out)
    elif not drills:
        print(f"No restore drills of {plan.name}.", file=out)
    else:
        for d in drills:
            print(
                f"{d['instance']}  {d['region']}  {d['status']}  restored to {d['restore_time']}  created {d['created']}",
                file=out,
            )
        print(f"Delete one with `provisioner restore {plan.name} --delete NAME`.", file=out)
    return EXIT_OK
