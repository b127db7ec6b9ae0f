"""`check` (the security baseline on the plan and the live resources) and `iam-policy` (the
least-privilege policy the tool needs)."""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from provisioner.cli.exit_codes import EXIT_ERROR, EXIT_OK
from provisioner.cli.session import make_session
from provisioner.planfile import load_plan

# aws/ and operations/ (boto3) are imported inside the commands: the parser imports every
# command module, and commands that make no call should not pay for them.


def cmd_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """The security baseline (SPEC section 9) on the plan file and, unless --plan-only, on the
    live resources of the plan's account; exit 1 on any `fail` or `missing` finding."""
    from provisioner.planfile.baseline import FAILING, plan_findings
    from provisioner.planfile.transit import REACHABILITY_CONTROL

    # A weakened strict plan is loaded anyway: check reports its findings rather than refusing.
    plan = load_plan(args.plans[0], args.plans_dir, enforce_baseline=False)
    rows = [("plan", f) for f in plan_findings(plan)]
    document: dict[str, Any] = {"plan": plan.name, "kind": plan.kind, "protected": plan.protected}
    if not args.plan_only:
        from provisioner.aws.accounts import session_for_plan
        from provisioner.operations.check import live_findings

        session = session_for_plan(make_session(args, plan), plan)
        document.update(account=session.account_id, region=session.region)
        print(
            f"Checking {plan.name} ({plan.kind}): account {session.account_id}, region {session.region}"
            + (" (sandbox)" if args.sandbox else ""),
            file=err,
        )
        rows += [("live", f) for f in live_findings(session, plan)]
    summary = {status: sum(1 for _, f in rows if f.status == status) for status in ("pass", "warn", "fail", "missing")}
    failed = any(f.status in FAILING for _, f in rows)
    document.update(
        status="fail" if failed else "pass",
        summary=summary,
        findings=[{"source": source, **f.as_dict()} for source, f in rows],
    )
    if args.output == "json":
        print(json.dumps(document, indent=2), file=out)
    else:
        shown = [(s, f) for s, f in rows if args.verbose or f.status != "pass" or f.control == REACHABILITY_CONTROL]
        width = max((len(f.resource) for _, f in shown), default=8)
        for source, f in shown:
            print(
                f"{f.status.upper():8} {f.control:13} {source:5} {f.resource:{width}}  {f.detail}  [{f.where}]",
                file=out,
            )
        print(
            f"{plan.name}: {summary['pass']} passed, {summary['warn']} warnings, {summary['fail']} failed, "
            f"{summary['missing']} missing{'' if args.verbose else ' (--verbose lists the passes)'}.",
            file=out,
        )
    return EXIT_ERROR if failed else EXIT_OK


def cmd_iam_policy(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """The least-privilege IAM policy the tool needs, from what its resource kinds declare."""
    from provisioner.operations.iam_policy import policy_document, resolve_partition

    plans = [load_plan(name, args.plans_dir) for name in args.plans]
    region = args.region or next(
        (getattr(p.spec, "region", None) for p in plans if getattr(p.spec, "region", None)), None
    )
    partition = resolve_partition(args.partition, region)
    print(json.dumps(policy_document(plans or None, partition=partition), indent=2), file=out)
    return EXIT_OK
