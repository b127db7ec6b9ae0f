"""`unlock` (a plan's locks: who holds them, breaking a stale DynamoDB lock) and `history`
(the plan's past runs from the local journal)."""

from __future__ import annotations

import argparse
import json
import re
import time
from typing import Any, TextIO

from provisioner import paths
from provisioner.cli.exit_codes import EXIT_ERROR, EXIT_OK
from provisioner.cli.prompts import confirm, is_terminal
from provisioner.cli.render import duration
from provisioner.cli.session import make_session
from provisioner.engine.lock import LocalLock
from provisioner.planfile import PlanFileError, load_plan

# aws/ and operations/ (boto3) are imported inside the commands: the parser imports every
# command module, and commands that make no call should not pay for them.


def cmd_unlock(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`unlock ENV`: break a stale DynamoDB lock after showing its holder and confirmation
    (the plan name typed back, or `--yes`). A local lock cannot be stale, as the kernel drops
    it with its process; only the holder note a killed run left behind is cleared."""
    from provisioner.aws.dynamodb_lock import describe_holder
    from provisioner.engine import LockError
    from provisioner.operations.locking import dynamodb_lock

    plan = load_plan(args.plans[0], args.plans_dir)
    text = args.output == "text"
    report: dict[str, Any] = {"plan": plan.name}
    code = EXIT_OK

    held, info = LocalLock.status(paths.subdir("locks"), plan.name, clear_stale=True)
    report["local"] = {"held": held, "holder": info or None, "cleared_stale_note": bool(info) and not held}
    if held:
        line = (
            f"local lock: held by a live run on this machine ({info.get('operation')} by {info.get('user')}@{info.get('host')}, "
            f"pid {info.get('pid')}, since {info.get('since')}); it ends with that process: stop it with Ctrl-C"
        )
    elif info:
        line = (
            f"local lock: not held; cleared the note of a killed run (pid {info.get('pid')}, since {info.get('since')})"
        )
    else:
        line = "local lock: not held"
    if text:
        print(line, file=out)

    table = plan.spec.lock.dynamodb_table
    if table:
        lock = dynamodb_lock(
            plan,
            "unlock",
            session=make_session(args, plan),
            timeout=args.lock_timeout,
            notify=lambda message: print(message, file=err, flush=True),
        )
        holder = lock.holder()
        entry: dict[str, Any] = {
            "table": table,
            "region": lock.region,
            "held": holder is not None,
            "holder": holder,
            "broken": False,
        }
        report["dynamodb"] = entry
        if holder is None:
            if text:
                print(f"DynamoDB lock (table {table}, {lock.region}): not held", file=out)
        else:
            expired = float(holder.get("expires_at", 0)) < time.time()
            if text:
                print(
                    f"DynamoDB lock (table {table}, {lock.region}): held by {describe_holder(holder, time.time())}",
                    file=out,
                )
                print(
                    "  its lease has expired: that run is gone"
                    if expired
                    else "  its lease is live: if that run is still working, breaking the lock lets another run overlap it",
                    file=out,
                )
            if not args.yes:
                if not is_terminal():
                    raise LockError(
                        f"breaking the lock of {plan.name} needs confirmation and there is no terminal",
                        hint="pass --yes",
                    )
                if not confirm(f"Type the plan name ({plan.name}) to break its lock: ", plan.name):
                    if text:
                        print("Cancelled; the lock is kept.", file=out)
                    else:
                        print(json.dumps({**report, "status": "cancelled"}, indent=2, default=str), file=out)
                    return EXIT_ERROR
            entry["broken"] = lock.break_lock(str(holder.get("token")))
            if entry["broken"]:
                if text:
                    print(f"Broke the lock of {plan.name}.", file=out)
            else:
                code = EXIT_ERROR
                now_holder = lock.holder()
                entry["holder_now"] = now_holder
                if text:
                    print(
                        f"The lock changed hands meanwhile ({describe_holder(now_holder) if now_holder else 'it was released'}); "
                        "nothing was broken: run unlock again to see who holds it now.",
                        file=out,
                    )
    elif text:
        print(f"DynamoDB lock: none (plan {plan.name} names no lock.dynamodb_table)", file=out)
    if not text:
        print(json.dumps(report, indent=2, default=str), file=out)
    return code


def cmd_history(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`history ENV`: the plan's past runs from the local journal, oldest first (the latest
    at the bottom); `--output json` gives each run's summary with all its events."""
    from provisioner.engine.journal import read_runs, summarize_run

    try:
        name = load_plan(args.plans[0], args.plans_dir).name
    except PlanFileError:
        # A plan file that no longer validates (or exists) still has its history.
        name = args.plans[0]
        if not (re.fullmatch(r"[A-Za-z0-9_.-]+", name) and (paths.home() / "runs" / name).is_dir()):
            raise
    runs = read_runs(paths.subdir("runs"), name)
    if args.limit and args.limit > 0:
        runs = runs[-args.limit :]
    rows = [summarize_run(events) for events in runs]
    # A run without its end is dead, unless it is the latest and still holds the plan's lock.
    if rows and rows[-1]["status"] == "crashed" and LocalLock.status(paths.subdir("locks"), name)[0]:
        rows[-1]["status"] = "running"
    if args.output == "json":
        print(
            json.dumps(
                [{**row, "events": events} for row, events in zip(rows, runs, strict=False)], indent=2, default=str
            ),
            file=out,
        )
        return EXIT_OK
    if not rows:
        print(f"No runs of {name} in {paths.home() / 'runs' / name}.", file=out)
        return EXIT_OK
    table = [("RUN", "STARTED (UTC)", "WHO", "OPERATION", "CHANGES", "RESULT", "DURATION")]
    for row in rows:
        changes = ", ".join(f"{action} {count}" for action, count in row["changes"].items() if count)
        if not changes:
            changes = (
                f"unknown ({row['mutating_calls']} calls)"
                if row["status"] in ("crashed", "running") and row["mutating_calls"]
                else "none"
            )
        started = (row["started"] or "?")[:19].replace("T", " ")
        who = row["who"] or (f"{row['user']}@{row['host']}" if row.get("host") else row.get("user")) or "?"
        took = duration(row["duration"]) if row["duration"] is not None else "?"
        table.append(
            (
                str(row["run_id"] or "?").split("-", 1)[0],
                started,
                who,
                str(row["operation"]),
                changes,
                str(row["status"]),
                took,
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for r in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(r, widths, strict=False)).rstrip(), file=out)
    return EXIT_OK
