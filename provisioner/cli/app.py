"""Commands, options, rendering (text and JSON) and exit codes (SPEC sections 3 and 4).

Exit codes, as Terraform users expect: 0 success; 1 error, invalid input or a usage error
(cli_args.py); 2 only from `plan --detailed-exitcode` when there are changes; 130 after Ctrl-C. Errors are one clear
message (step, key, AWS code, what to do next); a traceback only with `--verbose`.
Progress goes to stderr, so `--output json` keeps stdout a single JSON document.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from provisioner import paths
from provisioner.planfile import Plan, PlanFileError, dump_schema, load_plan, plan_names
from provisioner.planfile.transit import reachability, reachability_lines

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_INTERRUPTED = 0, 1, 2, 130


# ----------------------------------------------------------------------------------- parser
from provisioner.cli_args import build_parser  # noqa: E402 - the grammar lives in its own module


# ---------------------------------------------------------------------------------- output
class ProgressReporter:
    """Line-based progress on stderr: which nodes start, wait (on what) and finish."""

    def __init__(self, stream: TextIO, verbose: bool = False, prefix: str = "", start: float | None = None):
        self.stream = stream
        self.verbose = verbose
        self.prefix = prefix  # the plan's name when several plans run at once
        self.start = time.monotonic() if start is None else start
        self._lock = threading.Lock()

    def event(self, kind: str, key: str | None, message: str, **data: Any) -> None:
        symbols = {"start": "..", "done": "ok", "fail": "!!", "skip": "--", "progress": "  ", "interrupt": "^C"}
        if kind == "done" and message == "unchanged" and not self.verbose:
            return
        elapsed = time.monotonic() - self.start
        change = data.get("change") or {}
        detail = f" ({change['id']})" if change.get("id") else ""
        line = f"[{elapsed:7.1f}s] {self.prefix}{symbols.get(kind, '  ')} {key + ' ' if key else ''}{message}{detail}"
        with self._lock:
            print(line, file=self.stream, flush=True)
        if kind == "fail" and self.verbose and data.get("exc_info") is not None:
            import traceback

            traceback.print_exception(data["exc_info"], file=self.stream)


# Text output shortens a value past this many characters (JSON output keeps it whole).
TEXT_VALUE_LIMIT = 120


def _fmt(value: Any, limit: int | None = None) -> str:
    from provisioner.engine.change import jsonable

    if value is None:
        return "(none)"
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        text = json.dumps(jsonable(value), sort_keys=True)
    else:
        text = str(value)
    if limit is not None and len(text) > limit:
        text = f"{text[: limit - 24]}... ({len(text)} characters)"
    return text


def render_changes(changeset: Any, out: TextIO, verbose: bool, past: bool = False) -> None:
    from provisioner.engine.change import changed_paths

    marks = {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "noop": " "}
    for change in changeset.changes:
        # What a destroy keeps (a shared role, a key that encrypts a kept snapshot) is always
        # shown, so a reviewer does not take it for deleted.
        kept = change.action.value == "noop" and (change.reason or "").startswith("kept: ")
        if change.action.value == "noop" and not verbose and not change.info and not kept and not change.reason:
            continue
        verb = change.action.verb[1] if past else change.action.verb[0]
        reason = change.reason.removeprefix("kept: ") if kept and change.reason else change.reason
        if kept:
            verb = "kept" if past else "would keep"
        suffix = f" ({reason})" if reason else ""
        ident = f" [{change.id}]" if change.id else ""
        mark = "=" if kept else marks[change.action.value]
        print(f"  {mark:>3} {change.key}  {change.type}{ident}  {verb}{suffix}", file=out)
        for field, values in change.diff.items():
            # Only what changed inside a nested value (policy.Statement[3].Action), shortened;
            # `--output json` has the whole values.
            for path, before, after in changed_paths(field, values.get("from"), values.get("to")):
                print(
                    f"          {path}: {_fmt(before, TEXT_VALUE_LIMIT)} -> {_fmt(after, TEXT_VALUE_LIMIT)}", file=out
                )
        for field, value in change.info.items():
            print(f"          ({field}: {_fmt(value, TEXT_VALUE_LIMIT)})", file=out)
        if change.guard and not past:
            print(f"          ! guarded: {change.guard}", file=out)
            if change.dependents:
                shown = ", ".join(change.dependents[:8]) + (
                    f" and {len(change.dependents) - 8} more" if len(change.dependents) > 8 else ""
                )
                print(f"          ! depends on it: {shown}", file=out)


def render_blockers(changeset: Any, out: TextIO) -> None:
    """A destroy's preflight: what will stop it, found before anything is deleted."""
    if changeset.blockers:
        print(
            "Destroy will stop at what this plan does not own (it deletes everything else, then says what "
            "is left; remove these and run destroy again):",
            file=out,
        )
        for line in changeset.blockers:
            print(f"  ! {line}", file=out)


def destroy_summary(changeset: Any) -> dict[str, int]:
    """A destroy's counts: what it deletes, what it keeps (and why: each change's reason), what
    is already gone; not "unchanged", which would say a destroyed plan's resources exist."""
    counts = {"delete": 0, "kept": 0, "absent": 0, "noop": 0}
    for change in changeset.changes:
        if change.action.value == "delete":
            counts["delete"] += 1
        elif (change.reason or "").startswith("kept: "):
            counts["kept"] += 1
        elif (change.reason or "").startswith("absent"):
            counts["absent"] += 1
        else:
            counts["noop"] += 1  # read-only lookups
    return counts


def render_summary(summary: dict[str, int], destroy: bool = False) -> str:
    if destroy:
        return f"{summary['delete']} to delete, {summary['kept']} to keep, {summary['absent']} already absent"
    return (
        f"{summary['create']} to create, {summary['update']} to update, {summary['replace']} to replace, "
        f"{summary['delete']} to delete, {summary['noop']} unchanged"
    )


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


# --------------------------------------------------------------------------------- session
def make_session(args: argparse.Namespace, plan: Plan, journal: Any = None) -> Any:
    from provisioner.aws import AwsSession

    region = args.region or plan.spec.region
    if args.sandbox:
        from provisioner import sandbox

        state = sandbox.start()
        session = AwsSession(
            region=region,
            endpoint_url=state["aws_endpoint_url"],
            journal=journal,
            credentials={
                "aws_access_key_id": sandbox.SANDBOX_ACCESS_KEY_ID,
                "aws_secret_access_key": sandbox.SANDBOX_SECRET_ACCESS_KEY,
            },
        )
        # Waiters poll on a schedule scaled like the sandbox's simulated time (RunContext reads
        # this), so an apply against `--latency 0.02` is not dominated by 1-5 s polls.
        session.poll_scale = sandbox.poll_scale(state)
        return session
    return AwsSession(region=region, profile=args.profile, journal=journal)


# -------------------------------------------------------------------------------- commands
def cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    names = args.plans or plan_names(args.plans_dir)
    if not names:
        raise PlanFileError([])
    issues, loaded = [], []
    for name in names:
        try:
            loaded.append(load_plan(name, args.plans_dir))
        except PlanFileError as exc:
            issues.extend(exc.issues)
    issues.extend(_cross_plan_issues(loaded))
    if args.output == "json":
        print(
            json.dumps(
                {"valid": not issues, "plans": [p.name for p in loaded], "issues": [i.as_dict() for i in issues]},
                indent=2,
            ),
            file=out,
        )
    if issues:
        raise PlanFileError(issues)
    if args.output == "text":
        for plan in loaded:
            print(f"ok  {plan.path}  ({plan.kind}{', protected' if plan.protected else ''})", file=out)
    return EXIT_OK


def _cross_plan_issues(plans: list[Plan]) -> list[Any]:
    """Environment VPCs must not overlap each other (they may be peered or routed later):
    each later plan of an overlapping pair is named, with the earlier one's file."""
    from provisioner.planfile.transit import transit_plan_issues

    issues = []
    for i, plan in enumerate(plans):
        issues += _cidr_overlaps(plan, plans[:i])
    return issues + transit_plan_issues(plans)


def _cidr_overlaps(plan: Plan, others: list[Plan]) -> list[Any]:
    """`plan`'s VPC range against the other plans' (the same check `validate` runs), as issues
    of `plan`'s file, naming the other file."""
    import ipaddress

    from provisioner.planfile import EnvironmentPlan, PlanIssue

    if not isinstance(plan.spec, EnvironmentPlan):
        return []
    mine = ipaddress.IPv4Network(plan.spec.network.cidr)
    issues = []
    for other in others:
        if (
            isinstance(other.spec, EnvironmentPlan)
            and other.name != plan.name
            and mine.overlaps(ipaddress.IPv4Network(other.spec.network.cidr))
        ):
            issues.append(
                PlanIssue(
                    str(plan.path),
                    None,
                    "network.cidr",
                    f"{plan.spec.network.cidr} overlaps plan {other.name}'s {other.spec.network.cidr} ({other.path})",
                    "a distinct, non-overlapping range per environment",
                )
            )
    return issues


def _overlaps_with_plans_dir(plans: list[Plan], plans_dir: Path) -> list[Any]:
    """`plan` and `apply` run the cross-plan check of `validate` against every other plan in
    the plans directory. Another file that does not load is skipped here: it is not this
    run's problem (`validate` reports it)."""
    others = []
    for name in plan_names(plans_dir):
        if any(name == p.name for p in plans):
            continue
        try:
            others.append(load_plan(name, plans_dir))
        except PlanFileError:
            continue
    issues = []
    for i, plan in enumerate(plans):
        issues += _cidr_overlaps(plan, [*others, *plans[:i]])
    return issues


_PROMPT_LOCK = threading.Lock()  # several plans at once: one question at a time


def _ask(prompt: str) -> str:
    """Prompts go to stderr, so `--output json` keeps stdout one JSON document."""
    with _PROMPT_LOCK:
        print(prompt, end="", file=sys.stderr, flush=True)
        return sys.stdin.readline().strip()


def _confirm(prompt: str, expected: str, args: argparse.Namespace) -> bool:
    if not sys.stdin or not sys.stdin.isatty():
        return False
    return _ask(prompt) == expected


def run_plan_command(args: argparse.Namespace, out: TextIO, err: TextIO, operation: str) -> int:
    """plan / apply / destroy: one plan as before; several (or `--all`) form one run, ordered
    by what the plans need (provisioner/operations/run.py)."""
    from provisioner.operations import run as several

    names = (
        several.all_plan_names(args.plans_dir) if getattr(args, "all_plans", False) else list(dict.fromkeys(args.plans))
    )
    if not names:
        raise PlanFileError([])
    plans = [load_plan(name, args.plans_dir) for name in names]  # validate all before any call
    if not (operation == "destroy" or getattr(args, "destroy", False)):
        overlaps = _overlaps_with_plans_dir(plans, args.plans_dir)
        if overlaps:
            raise PlanFileError(overlaps)
    if len(plans) == 1:
        code, document = _run_one(plans[0], args, out, err, operation)
        if args.output == "json":
            print(json.dumps(document, indent=2, default=str), file=out)
        return code
    return _run_several(plans, args, out, err, operation)


def _run_several(plans: list[Plan], args: argparse.Namespace, out: TextIO, err: TextIO, operation: str) -> int:
    from provisioner.operations import run as several

    text = args.output == "text"
    destroy = operation == "destroy" or bool(getattr(args, "destroy", False))
    needs = several.dependencies(plans)
    order = several.reverse(needs) if destroy else needs
    if args.sandbox:
        # Start the sandbox once, before the plans' threads each ask for it.
        from provisioner import sandbox

        sandbox.start()
    out_lock = threading.Lock()
    estimates: dict[str, float] = {}
    start = time.monotonic()
    from provisioner.cli_view import PlanOut, RunView, render_run_end

    view = RunView(err, plans, args.verbose, start)

    def work(plan: Plan) -> tuple[int, dict[str, Any]]:
        from provisioner.aws.accounts import AccountNotReady

        buffer = PlanOut(out, out_lock)
        try:
            return _run_one(
                plan,
                args,
                buffer if text else io.StringIO(),
                err,
                operation,
                estimates=estimates,
                reporter=view.reporter(plan),
            )
        except AccountNotReady as exc:
            if operation != "plan" or destroy or not any(p.kind == "organization" for p in plans):
                raise
            # The organization of this run creates the account: everything would be created.
            estimate = several.create_estimate(plan, args.region)
            estimates[plan.name] = float(estimate["seconds"])
            if text:
                print(
                    f"Plan {plan.name} ({plan.kind}): {exc}; all of it would be created after organization "
                    f"(estimated {_duration(estimate['seconds'])}).",
                    file=buffer,
                )
            document = {
                "plan": plan.name,
                "kind": plan.kind,
                "account": None,
                "status": "account not created yet",
                "changes": [],
                "summary": {},
                "estimate": estimate,
            }
            return (EXIT_CHANGES if args.detailed_exitcode else EXIT_OK), document
        finally:
            buffer.publish()

    def describe(exc: BaseException) -> str:
        if args.verbose:  # as for one plan: the traceback only with --verbose
            import traceback

            print("".join(traceback.format_exception(exc)), file=err, end="", flush=True)
        explained = _credential_error(exc, args) if isinstance(exc, Exception) else None
        exc = explained or exc
        return exc.describe() if hasattr(exc, "describe") else f"{type(exc).__name__}: {_redact(str(exc))}"

    cancel = threading.Event()
    if text:
        ordering = "; ".join(f"{name} after {', '.join(sorted(wanted))}" for name, wanted in order.items() if wanted)
        print(
            f"{operation.capitalize()} of {len(plans)} plans: {', '.join(p.name for p in plans)}"
            + (f" ({ordering}; the others at once)" if ordering and operation != "plan" else "")
            + ".",
            file=err,
        )
    graph = several.PlanGraphRun(
        plans, work, {} if operation == "plan" else order, cancel=cancel, describe=describe, on_change=view.changed
    )
    with _ctrl_c.several(cancel), view:
        outcomes = graph.run()
    estimate = several.run_estimate(order, estimates)
    if args.output == "json":
        document = {
            "operation": operation,
            "plans": [o.document for o in outcomes if o.document is not None],
            "summary": several.summary(outcomes),
            "estimate": estimate,
        }
        print(json.dumps(document, indent=2, default=str), file=out)
    else:
        render_run_end(outcomes, estimate, operation, out)
    if any(o.status == "interrupted" for o in outcomes) or (cancel.is_set() and _ctrl_c.received):
        return EXIT_INTERRUPTED
    if any(o.status != "done" for o in outcomes):
        return EXIT_ERROR
    return EXIT_CHANGES if any(o.code == EXIT_CHANGES for o in outcomes) else EXIT_OK


def _run_one(
    plan: Plan,
    args: argparse.Namespace,
    out: TextIO,
    err: TextIO,
    operation: str,
    estimates: dict[str, float] | None = None,
    reporter: ProgressReporter | None = None,
) -> tuple[int, dict[str, Any]]:
    from provisioner.engine import ProtectedPlanError, RunContext, Runner
    from provisioner.engine.journal import Journal
    from provisioner.steps import build

    text = args.output == "text"
    destroy = operation == "destroy" or (operation == "plan" and args.destroy)
    if operation == "destroy" and plan.protected:
        if not args.allow_protected:
            raise ProtectedPlanError(
                f"plan {plan.name} is protected; destroy refuses",
                hint=f"pass --allow-protected and type the plan name back (or --confirm {plan.name} in CI)",
            )
        typed = (
            args.confirm
            if args.confirm is not None
            else (
                _ask(f"Type the plan name ({plan.name}) to destroy it: ") if sys.stdin and sys.stdin.isatty() else None
            )
        )
        if typed != plan.name:
            raise ProtectedPlanError(
                f"plan {plan.name} is protected and its name was not typed back", hint=f"--confirm {plan.name}"
            )

    if operation == "apply" and plan.protected:
        # SPEC section 9: a protected plan may not weaken the baseline (validation refuses the
        # configurable part already; this keeps apply on the same rule table as `check`).
        from provisioner.planfile.baseline import failures, plan_findings

        failing = failures(plan_findings(plan))
        if failing:
            raise ProtectedPlanError(
                f"plan {plan.name} is protected and fails the security baseline: "
                + "; ".join(f"{f.control} {f.resource}: {f.detail}" for f in failing),
                hint=f"fix the plan (see `provisioner check {plan.name} --plan-only`); nothing was sent to AWS",
            )
    # Building the graph checks what only the steps know (SCP documents, ...) before any call.
    build(plan, args.region or getattr(plan.spec, "region", None))
    reporter = reporter or ProgressReporter(err, args.verbose)
    lock = None
    journal = None
    # `plan` takes no lock: it only reads, so reviews and CI plans never wait for an apply
    # (or make one wait); a plan read during an apply shows that apply's progress so far.
    cancel = threading.Event()
    if operation != "plan":
        lock = _plan_lock(args, plan, operation, err, cancel=cancel)
        lock.acquire()
    try:
        if operation != "plan":
            journal = Journal(paths.subdir("runs"), plan.name, operation)
        from provisioner.aws.accounts import organization_account_ids, session_for_plan

        management = make_session(args, plan, journal)
        session = session_for_plan(management, plan)
        account_ids = organization_account_ids(management, plan)
        ctx = RunContext(
            plan=plan,
            aws=session,
            reporter=reporter,
            journal=journal,
            cancel=cancel,
            allow_protected=(operation == "destroy" and plan.protected),
            apply_immediately=bool(getattr(args, "apply_immediately", False)),
        )
        runner = Runner(
            ctx, build(plan, session.region, account_ids), **({"workers": args.workers} if args.workers else {})
        )
        where = f"account {session.account_id}, region {session.region}" + (" (sandbox)" if args.sandbox else "")
        if text:
            print(f"Plan {plan.name} ({plan.kind}): {where}", file=out)
        if journal:
            journal.record(
                "target",
                account=session.account_id,
                region=session.region,
                sandbox=bool(args.sandbox),
                caller=_caller(management),
            )
        changeset = runner.plan(destroy=destroy)
        estimate = runner.estimate(changeset, destroy=destroy)
        if estimates is not None:
            estimates[plan.name] = float(estimate["seconds"]) if changeset.has_changes else 0.0
        if hasattr(reporter, "planned"):
            reporter.planned(
                len(changeset.changes), float(estimate["seconds"]), float(getattr(session, "poll_scale", 1.0) or 1.0)
            )
        if operation == "plan":
            summary = changeset.summary()
            if destroy:
                summary.update({k: v for k, v in destroy_summary(changeset).items() if k in ("kept", "absent")})
            if text:
                render_changes(changeset, out, args.verbose)
                print(f"Plan: {render_summary(destroy_summary(changeset) if destroy else summary, destroy)}.", file=out)
                if changeset.has_changes:
                    print(
                        f"Estimated {'destroy' if destroy else 'apply'} time: {_duration(estimate['seconds'])} "
                        f"(serial: {_duration(estimate['serial_seconds'])}); critical path: {' -> '.join(estimate['critical_path'])}",
                        file=out,
                    )
                render_blockers(changeset, out)
                guarded = [] if destroy else runner.refused()
                if plan.protected and guarded:
                    print(
                        f"Protected plan: apply refuses {len(guarded)} guarded change(s) unless each is named: "
                        + " ".join(f"--allow-replace {c.key}" for c in guarded)
                        + f" --confirm {plan.name}",
                        file=out,
                    )
                for line in [] if destroy else reachability_lines(plan):
                    print(line, file=out)
            document = {
                "plan": plan.name,
                "kind": plan.kind,
                "account": session.account_id,
                "region": session.region,
                "changes": [c.as_dict() for c in changeset.changes],
                "summary": summary,
                "estimate": estimate,
            }
            if reachability(plan) is not None and not destroy:
                document["reachability"] = reachability(plan)
            if destroy:
                document["blockers"] = list(changeset.blockers)
            code = EXIT_CHANGES if (args.detailed_exitcode and changeset.has_changes) else EXIT_OK
            return code, document

        # apply / destroy: show the plan, confirm, execute.
        if text:
            render_changes(changeset, out, args.verbose)
            counts = destroy_summary(changeset) if destroy else changeset.summary()
            print(f"Plan: {render_summary(counts, destroy)}.", file=out)
            render_blockers(changeset, out)
        if operation == "apply":
            _allow_replacements(plan, runner, args, err)
        if not changeset.has_changes:
            if text:
                print("Nothing to do.", file=out)
            with _ctrl_c.executing(cancel, journal, lock):
                result = runner.apply() if operation == "apply" else runner.destroy()  # settles pending resources
        else:
            if not args.yes:
                verb = "Apply" if operation == "apply" else "Destroy"
                if not (sys.stdin and sys.stdin.isatty()):
                    raise ProtectedPlanError(
                        f"{operation} needs confirmation and there is no terminal", hint="pass --yes"
                    )
                getattr(out, "publish", lambda: None)()  # several plans: show this plan's changes first
                if not _confirm(f"{verb} these changes to {plan.name} ({where})? Type yes: ", "yes", args):
                    print("Cancelled; nothing changed.", file=out)
                    return EXIT_ERROR, {"plan": plan.name, "status": "cancelled"}
            if text:
                print(f"Estimated time: {_duration(estimate['seconds'])}.", file=out)
            with _ctrl_c.executing(cancel, journal, lock):
                result = runner.apply() if operation == "apply" else runner.destroy()
        document = run_report(result)
        if journal:
            for node in result.results.values():
                journal.record("node", **node.as_dict())
        if text:
            done = [c for c in result.changeset.changes if c.action.value != "noop"]
            print(
                f"{operation.capitalize()} {result.status}: {len(done)} change(s) in {_duration(result.duration)}.",
                file=out,
            )
            for failure in result.failures():
                print(f"  failed: {failure.key}: {failure.error}", file=out)
            skipped = [r.key for r in result.results.values() if r.status == "skipped"]
            if skipped:
                print(f"  skipped because a dependency failed: {', '.join(sorted(skipped))}", file=out)
            if result.status == "failed":
                print("  next: fix the cause above and run the same command again; finished work is kept.", file=out)
        if journal:
            journal.close(result.status, duration=result.duration)
            journal = None
        if result.status == "interrupted":
            return EXIT_INTERRUPTED, document
        return (EXIT_OK if result.status == "ok" else EXIT_ERROR), document
    finally:
        if journal:
            journal.close("interrupted" if _ctrl_c.received else "error")
        if lock:
            lock.release()


def _allow_replacements(plan: Plan, runner: Any, args: argparse.Namespace, err: TextIO) -> None:
    """SPEC section 11: a protected plan replaces or deletes a guarded resource (cluster,
    database, VPC, subnet with network interfaces, KMS key) only when the change is named with
    `--allow-replace KEY` and the plan name is typed back (`--confirm NAME` in CI), as a
    protected destroy. Runs after the plan and before any change."""
    from provisioner.engine import ProtectedPlanError

    allowed = set(getattr(args, "allow_replace", None) or ())
    guarded = runner.refused()
    unused = sorted(allowed - {c.key for c in guarded})
    if unused:
        print(
            f"warning: --allow-replace {', '.join(unused)}: no guarded replacement or deletion has that key in "
            f"plan {plan.name}",
            file=err,
        )
    if not plan.protected or not guarded:
        return
    refused = [c for c in guarded if c.key not in allowed]
    if refused:
        lines = "; ".join(
            f"{c.action.value} {c.key} ({c.type}{', ' + c.reason if c.reason else ''}): {c.guard}"
            + (f"; depends on it: {', '.join(c.dependents)}" if c.dependents else "")
            for c in refused
        )
        flags = " ".join(f"--allow-replace {c.key}" for c in refused)
        raise ProtectedPlanError(
            f"plan {plan.name} is protected; apply refuses to {lines}",
            hint=f"nothing was changed; to go ahead, name each change: {flags} --confirm {plan.name}",
        )
    names = ", ".join(c.key for c in guarded)
    typed = (
        args.confirm
        if args.confirm is not None
        else (
            _ask(f"Type the plan name ({plan.name}) to replace or delete {names}: ")
            if sys.stdin and sys.stdin.isatty()
            else None
        )
    )
    if typed != plan.name:
        raise ProtectedPlanError(
            f"plan {plan.name} is protected and its name was not typed back to allow {names}",
            hint=f"--confirm {plan.name}; nothing was changed",
        )


def run_report(result: Any) -> dict[str, Any]:
    return {
        "plan": result.plan,
        "operation": result.operation,
        "status": result.status,
        "changes": [c.as_dict() for c in result.changeset.changes if c.action.value != "noop"],
        "steps": [r.as_dict() for r in result.results.values()],
        "started": result.started,
        "ended": result.ended,
        "duration_seconds": result.duration,
    }


# ----------------------------------------------------------------------- locks and history
def _plan_lock(
    args: argparse.Namespace, plan: Plan, operation: str, err: TextIO, cancel: threading.Event | None = None
) -> Any:
    """The plan's locks for a run that changes things: the local lock, then the DynamoDB
    lease lock when the plan names a table (released in reverse). A DynamoDB lock lost
    mid-run (broken with `unlock`) sets `cancel`: the run stops like after Ctrl-C, letting
    in-flight calls finish and starting nothing new, so two runs never keep writing at once."""
    from provisioner.engine.lock import LocalLock, LockChain

    locks: list[Any] = [LocalLock(paths.subdir("locks"), plan.name, operation, timeout=args.lock_timeout)]
    if plan.spec.lock.dynamodb_table:
        locks.append(_dynamodb_lock(args, plan, operation, err, cancel))
    return LockChain(locks)


def _dynamodb_lock(
    args: argparse.Namespace, plan: Plan, operation: str, err: TextIO, cancel: threading.Event | None = None
) -> Any:
    """The lease lock in the plan's table: in the plan's own region (not `--region`, so every
    run of the plan meets the same table) and the account of the credentials we run with."""
    from provisioner.aws.dynamodb_lock import DynamoDbLock

    def lost(message: str) -> None:
        print(f"warning: {message}; stopping after the calls in flight", file=err, flush=True)
        if cancel is not None:
            cancel.set()

    spec = plan.spec.lock
    return DynamoDbLock(
        make_session(args, plan),
        str(spec.dynamodb_table),
        plan.name,
        operation,
        region=plan.spec.region,
        lease_seconds=spec.lease_seconds,
        timeout=args.lock_timeout,
        notify=lambda message: print(message, file=err, flush=True),
        on_lost=lost,
    )


def _caller(session: Any) -> str | None:
    """Who runs this (the STS caller ARN, session name included), for the journal."""
    try:
        return str(session.client("sts").get_caller_identity()["Arn"])
    except Exception:
        return None


def cmd_unlock(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`unlock ENV`: break a stale DynamoDB lock after showing its holder and confirmation
    (the plan name typed back, or `--yes`). A local lock cannot be stale, as the kernel drops
    it with its process; only the holder note a killed run left behind is cleared."""
    from provisioner.engine import LockError
    from provisioner.engine.lock import LocalLock

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
        lock = _dynamodb_lock(args, plan, "unlock", err)
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
            from provisioner.aws.dynamodb_lock import describe_holder

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
                if not (sys.stdin and sys.stdin.isatty()):
                    raise LockError(
                        f"breaking the lock of {plan.name} needs confirmation and there is no terminal",
                        hint="pass --yes",
                    )
                if not _confirm(f"Type the plan name ({plan.name}) to break its lock: ", plan.name, args):
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


def cmd_history(args: argparse.Namespace, out: TextIO) -> int:
    """`history ENV`: the plan's past runs from the local journal, oldest first (the latest
    at the bottom); `--output json` gives each run's summary with all its events."""
    import re

    from provisioner.engine.journal import read_runs, summarize_run
    from provisioner.engine.lock import LocalLock

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
        duration = _duration(row["duration"]) if row["duration"] is not None else "?"
        table.append(
            (
                str(row["run_id"] or "?").split("-", 1)[0],
                started,
                who,
                str(row["operation"]),
                changes,
                str(row["status"]),
                duration,
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for r in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(r, widths, strict=False)).rstrip(), file=out)
    return EXIT_OK


def cmd_database(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`snapshot` and `restore`: operations on a bad day, under the plan's lock and journal."""
    from provisioner.engine import PermanentError, RunContext
    from provisioner.engine.journal import Journal
    from provisioner.operations import rds as operations
    from provisioner.planfile import EnvironmentPlan

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
        return _list_drills(args, plan, out)
    if args.command == "restore" and args.delete_drill and not args.yes:
        if not (sys.stdin and sys.stdin.isatty()):
            raise PermanentError(
                f"deleting drill {args.delete_drill} needs confirmation and there is no terminal", hint="pass --yes"
            )
        if not _confirm(
            f"Type the instance name ({args.delete_drill}) to delete it and its backups: ", args.delete_drill, args
        ):
            print("Cancelled; nothing changed.", file=out)
            return EXIT_ERROR
    target_region = args.region if args.command == "restore" else None
    when = operations.parse_time(args.to) if args.command == "restore" and not drills else None
    if args.command == "restore":
        args.region = None  # --region is where to restore to; the session works from the plan's region
    with _plan_lock(args, plan, args.command, err):
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


def _list_drills(args: argparse.Namespace, plan: Plan, out: TextIO) -> int:
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


def cmd_iam_policy(args: argparse.Namespace, out: TextIO) -> int:
    """The least-privilege IAM policy the tool needs, from what its resource kinds declare."""
    from provisioner.operations.iam_policy import policy_document, resolve_partition

    plans = [load_plan(name, args.plans_dir) for name in args.plans]
    region = args.region or next(
        (getattr(p.spec, "region", None) for p in plans if getattr(p.spec, "region", None)), None
    )
    partition = resolve_partition(args.partition, region)
    print(json.dumps(policy_document(plans or None, partition=partition), indent=2), file=out)
    return EXIT_OK


def cmd_manifests(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Every Kubernetes object apply installs except the upstream CRDs, for GitOps users.

    From the plan alone by default: no AWS call, so it works without credentials, and the one
    value only AWS knows (the cluster endpoint) is left out, which Karpenter looks up itself.
    `--live` reads the endpoint with DescribeCluster (errors are errors then)."""
    from provisioner.engine import PermanentError
    from provisioner.planfile import EnvironmentPlan
    from provisioner.steps.karpenter import cluster

    plan = load_plan(args.plans[0], args.plans_dir)
    if not isinstance(plan.spec, EnvironmentPlan):
        raise PermanentError(f"plan {plan.name} is a {plan.kind} plan and installs nothing in Kubernetes")
    region = args.region or plan.spec.region
    endpoint = None
    if args.live:
        from provisioner.aws.accounts import session_for_plan

        endpoint = cluster.cluster_endpoint(session_for_plan(make_session(args, plan), plan), plan)
        if endpoint is None:
            print(
                f"note: cluster {plan.name} does not exist yet; CLUSTER_ENDPOINT is left out and Karpenter looks it up",
                file=err,
            )
    out.write(cluster.render_manifests(plan, region, endpoint, live=args.live))
    return EXIT_OK


def cmd_kubeconfig(args: argparse.Namespace, out: TextIO) -> int:
    """A kubeconfig that authenticates the standard EKS way: an exec plugin that mints a
    token from STS on demand (this tool's `eks-token`), so the file holds no credential."""
    import yaml

    from provisioner.constants import cluster_name
    from provisioner.engine import PermanentError
    from provisioner.planfile import EnvironmentPlan

    plan = load_plan(args.plans[0], args.plans_dir)
    if not isinstance(plan.spec, EnvironmentPlan):
        raise PermanentError(f"plan {plan.name} is a {plan.kind} plan and has no cluster")
    from provisioner.aws.accounts import session_for_plan

    session = session_for_plan(make_session(args, plan), plan)
    name = cluster_name(plan.name)
    eks = session.client("eks")
    try:
        cluster = eks.describe_cluster(name=name)["cluster"]
    except eks.exceptions.ResourceNotFoundException:
        raise PermanentError(
            f"cluster {name} does not exist in account {session.account_id}, {session.region}",
            hint=f"run `provisioner apply {plan.name}{' --sandbox' if args.sandbox else ''}` first",
        ) from None
    exec_args = ["-m", "provisioner", "eks-token", "--cluster", name, "--region", session.region]
    if session is not session.management and session.account_id != session.management.account_id:
        # The cluster admits the identity apply ran as: the organization access role.
        role = plan.organization.access_role_name if plan.organization else "OrganizationAccountAccessRole"
        exec_args += ["--role-arn", f"arn:{session.partition}:iam::{session.account_id}:role/{role}"]
    env = []
    if args.sandbox:
        exec_args.append("--sandbox")
        env.append({"name": "PROVISIONER_HOME", "value": str(paths.home())})
    elif args.profile:
        exec_args += ["--profile", args.profile]
    user: dict[str, Any] = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": sys.executable,
            "args": exec_args,
            "interactiveMode": "Never",
            "provideClusterInfo": False,
        }
    }
    if env:
        user["exec"]["env"] = env
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": cluster["arn"],
                "cluster": {
                    "server": cluster["endpoint"],
                    "certificate-authority-data": cluster["certificateAuthority"]["data"],
                },
            }
        ],
        "users": [{"name": cluster["arn"], "user": user}],
        "contexts": [{"name": name, "context": {"cluster": cluster["arn"], "user": cluster["arn"]}}],
        "current-context": name,
    }
    text = yaml.safe_dump(config, sort_keys=False)
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(args.write, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        print(f"wrote {args.write} (context {name})", file=out)
    else:
        out.write(text)
    return EXIT_OK


def cmd_eks_token(args: argparse.Namespace, out: TextIO) -> int:
    """Print an ExecCredential for kubectl. The token goes to kubectl on stdout, nowhere else."""
    from datetime import UTC, datetime, timedelta

    from provisioner.aws import AwsSession
    from provisioner.aws.eks_token import eks_token

    region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    if args.sandbox:
        from provisioner import sandbox

        session = AwsSession(
            region=region,
            endpoint_url=sandbox.ensure_running(),
            credentials={
                "aws_access_key_id": sandbox.SANDBOX_ACCESS_KEY_ID,
                "aws_secret_access_key": sandbox.SANDBOX_SECRET_ACCESS_KEY,
            },
        )
    else:
        session = AwsSession(region=region, profile=args.profile)
    if args.role_arn:
        from provisioner.aws.accounts import assume_role

        account, role = args.role_arn.split(":")[4], args.role_arn.split("/", 1)[1]
        session = assume_role(session, account, role, f"provisioner-kubectl-{args.cluster}")
    token = eks_token(session, args.cluster, region)
    # EKS accepts a token for 15 minutes; tell kubectl to refresh it well before.
    expires = (datetime.now(UTC) + timedelta(minutes=14)).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(
        json.dumps(
            {
                "kind": "ExecCredential",
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "spec": {},
                "status": {"expirationTimestamp": expires, "token": token},
            }
        ),
        file=out,
    )
    return EXIT_OK


def cmd_sandbox(args: argparse.Namespace, out: TextIO) -> int:
    from provisioner import sandbox

    faults = args.faults
    if faults and faults != "none":
        # `@staging`: an account key of the plans' organization.yaml, turned into its email,
        # which the sandbox knows (it knows no plan).
        from provisioner.operations.run import resolve_fault_accounts

        faults = resolve_fault_accounts(faults, args.plans_dir)
    if args.action == "start":
        if args.latency is not None and args.latency < 0:
            print("error: --latency must be 0 or more", file=sys.stderr)
            return EXIT_ERROR
        state = sandbox.start(latency=args.latency, faults=faults)
    elif args.action == "faults":
        if faults is None:
            print("error: sandbox faults needs --faults SPEC (none: off)", file=sys.stderr)
            return EXIT_ERROR
        state = {**sandbox.status(), "faults": sandbox.set_faults(faults)}
    elif args.action == "stop":
        was_running = sandbox.stop()
        state = {**sandbox.status(), "stopped": was_running}
    elif args.action == "reset":
        sandbox.reset()
        state = {**sandbox.status(), "reset": True}
    else:
        state = sandbox.status()
    if args.output == "json":
        print(json.dumps(state, indent=2), file=out)
    elif args.action == "stop":
        print("sandbox stopped" if state["stopped"] else "sandbox was not running", file=out)
    elif state.get("running"):
        print(
            f"sandbox running at {state['aws_endpoint_url']} (pid {state.get('pid')}, since {state.get('started_at')}, "
            f"latency x{state.get('latency', 0.0)}, faults {state.get('faults') or 'none'})",
            file=out,
        )
    else:
        print("sandbox not running", file=out)
    return EXIT_OK


# ---------------------------------------------------------------------------------- Ctrl-C
class _CtrlC:
    """Ctrl-C for commands that change things (SPEC section 3: apply is safe to re-run after
    Ctrl-C), as Terraform users know it.

    Python's default turns SIGINT into KeyboardInterrupt wherever the main thread is. While
    nodes execute, that can be outside the runner's wait: then nothing tells the worker
    threads to stop, and the pool waits for every started node (a cluster create: minutes).
    So `main` installs this handler instead:

    - while nodes execute, the first SIGINT sets the run's cancel event: no node starts,
      waiters stop at their next poll, calls in flight finish; the run ends `interrupted`
      (journal closed, lock released) and exits 130;
    - a second one stops at once: the journal records the interruption, the lock is released
      (the kernel drops the local flock anyway) and the process exits 130 without waiting
      for calls in flight; the next run finds whatever they made by its tags;
    - before the nodes execute (reading, planning, the confirmation prompt) nothing has been
      written, and a SIGINT raises KeyboardInterrupt as usual.

    The handler only sets state; printing and exiting happen on a helper thread, because a
    signal handler that writes to a stream the main thread is writing to fails.
    """

    def __init__(self) -> None:
        self.received = 0
        self.err: TextIO = sys.stderr
        self._runs: list[tuple[threading.Event, Any, Any]] = []
        self._scope: threading.Event | None = None
        self._mutex = threading.Lock()
        self._cancelled = self._stopping = False

    def install(self, err: TextIO) -> Any:
        """Install the handler (main thread only); returns what to restore (a 1-tuple: the
        previous handler may itself be None), or None when nothing was installed."""
        import signal

        self.received, self.err, self._runs, self._scope = 0, err, [], None
        self._cancelled = self._stopping = False
        if threading.current_thread() is not threading.main_thread():
            return None
        return (signal.signal(signal.SIGINT, self._handle),)

    def uninstall(self, previous: Any) -> None:
        import signal

        if previous is None:
            return
        if self.received:
            # On the way out after a Ctrl-C (threads winding down, interpreter exit): another
            # one stops at once rather than surfacing a KeyboardInterrupt traceback.
            signal.signal(signal.SIGINT, lambda signum, frame: os._exit(EXIT_INTERRUPTED))
        else:
            signal.signal(signal.SIGINT, previous[0] if previous[0] is not None else signal.default_int_handler)

    @contextlib.contextmanager
    def executing(self, cancel: threading.Event, journal: Any, lock: Any) -> Iterator[None]:
        """One plan's nodes execute (several may at once, in a run of several plans)."""
        entry = (cancel, journal, lock)
        with self._mutex:
            self._runs.append(entry)
            if self._cancelled:  # Ctrl-C came while this plan was still planning: start nothing
                cancel.set()
        try:
            yield
        finally:
            with self._mutex:
                self._runs.remove(entry)

    @contextlib.contextmanager
    def several(self, cancel: threading.Event) -> Iterator[None]:
        """A run of several plans: the main thread only waits for the plans' threads, so
        the first Ctrl-C never raises there; it sets `cancel` (no plan starts) and every
        executing plan's own cancel; a plan still planning starts none of its nodes."""
        self._scope = cancel
        try:
            yield
        finally:
            self._scope = None

    def _handle(self, signum: int, frame: Any) -> None:
        self.received += 1
        with self._mutex:
            runs = list(self._runs)
            scope = self._scope
        if not runs and scope is None:
            raise KeyboardInterrupt
        if not self._cancelled:
            self._cancelled = True
            if scope is not None:
                scope.set()
            for cancel, _journal, _lock in runs:
                cancel.set()
            threading.Thread(
                target=self._say,
                daemon=True,
                args=("^C interrupted: letting in-flight calls finish (Ctrl-C again to stop at once)",),
            ).start()
        elif not self._stopping:
            self._stopping = True
            threading.Thread(target=self._stop_now, args=(runs,), daemon=True).start()

    def _say(self, message: str) -> None:
        with contextlib.suppress(Exception):
            print(message, file=self.err, flush=True)

    def _stop_now(self, runs: list[tuple[threading.Event, Any, Any]]) -> None:
        self._say(
            "^C stopping at once; calls in flight may or may not have been made: run the same command again to finish."
        )
        for _cancel, journal, lock in runs:
            with contextlib.suppress(Exception):
                if journal is not None:
                    journal.close("interrupted", forced=True)
            with contextlib.suppress(Exception):
                if lock is not None:
                    lock.release()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(EXIT_INTERRUPTED)


_ctrl_c = _CtrlC()


# ------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (1, see cli_args)
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    from provisioner.engine.errors import Interrupted, ProvisionerError

    if getattr(args, "karpenter_crds", None):
        from provisioner.steps.karpenter import crds

        if not args.karpenter_crds.is_dir():
            print(f"error: --karpenter-crds {args.karpenter_crds}: not a directory", file=err)
            return EXIT_ERROR
        os.environ[crds.ENV_DIR] = str(args.karpenter_crds.resolve())
    if args.sandbox and args.verbose:
        ignored = [
            f"{name}={os.environ[name]}" for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE") if os.environ.get(name)
        ]
        ignored += ["--profile " + args.profile] if args.profile else []
        if ignored:
            print(f"note: --sandbox uses the sandbox's own credentials; ignoring {', '.join(ignored)}", file=err)
    previous_handler = _ctrl_c.install(err)
    try:
        if args.command == "validate":
            return cmd_validate(args, out)
        if args.command == "schema":
            print(dump_schema(), file=out)
            return EXIT_OK
        if args.command == "sandbox":
            return cmd_sandbox(args, out)
        if args.command in ("snapshot", "restore"):
            return cmd_database(args, out, err)
        if args.command == "kubeconfig":
            return cmd_kubeconfig(args, out)
        if args.command == "manifests":
            return cmd_manifests(args, out, err)
        if args.command == "eks-token":
            return cmd_eks_token(args, out)
        if args.command == "check":
            return cmd_check(args, out, err)
        if args.command == "iam-policy":
            return cmd_iam_policy(args, out)
        if args.command == "unlock":
            return cmd_unlock(args, out, err)
        if args.command == "history":
            return cmd_history(args, out)
        code = run_plan_command(args, out, err, args.command)
        if code == EXIT_INTERRUPTED:
            print("interrupted; run the same command again to finish.", file=err)
        return code
    except PlanFileError as exc:
        print(f"error: {exc}" if exc.issues else "error: no plan files found", file=err)
        print("Nothing was sent to AWS.", file=err)
        return EXIT_ERROR
    except (KeyboardInterrupt, Interrupted):
        print("interrupted; run the same command again to finish.", file=err)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`provisioner iam-policy | head`): as for any Unix filter,
        # not an error. Point stdout at /dev/null so the interpreter's final flush is quiet.
        if out is sys.stdout:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except ProvisionerError as exc:
        if args.verbose:
            import traceback

            traceback.print_exc(file=err)
        print(f"error: {(_credential_error(exc, args) or exc).describe()}", file=err)
        return EXIT_ERROR
    except Exception as exc:
        if args.verbose:
            import traceback

            traceback.print_exc(file=err)
        explained = _credential_error(exc, args)
        if explained is not None:
            print(f"error: {explained.describe()}", file=err)
            return EXIT_ERROR
        print(f"error: {type(exc).__name__}: {_redact(str(exc))}", file=err)
        if not args.verbose:
            print("(run with --verbose for the traceback)", file=err)
        return EXIT_ERROR
    finally:
        _ctrl_c.uninstall(previous_handler)


def _credential_error(exc: BaseException, args: argparse.Namespace) -> Any:
    """A credential or profile problem said with what to do next (aws/errors.py), or None."""
    if args.sandbox:  # the sandbox's own credentials: nothing the user can fix there
        return None
    from provisioner.aws.errors import credential_error

    return credential_error(exc, profile=args.profile or os.environ.get("AWS_PROFILE"))


def _redact(text: str) -> str:
    return text if len(text) < 2000 else text[:2000] + "..."


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
