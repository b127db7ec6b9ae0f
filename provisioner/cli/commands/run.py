"""`plan`, `apply` and `destroy`: one plan (operations/plan_run.py), or several plans as one
run ordered by what they need (operations/run.py). This module reads the options, asks the
questions, renders the output and maps outcomes to exit codes; the order of things and what
must hold before a call live in operations/.
"""

from __future__ import annotations

import argparse
import io
import json
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any, TextIO

from provisioner.cli.ctrl_c import ctrl_c
from provisioner.cli.exit_codes import EXIT_CHANGES, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK
from provisioner.cli.prompts import ask_if_terminal, confirm, is_terminal
from provisioner.cli.render import (
    ProgressReporter,
    destroy_summary,
    duration,
    plan_document,
    render_blockers,
    render_changes,
    render_plan,
    render_result,
    render_summary,
    run_report,
)
from provisioner.cli.session import credential_error, make_session, redact, start_sandbox
from provisioner.cli.view import PlanOut, RunView, render_run_end
from provisioner.operations.cross_plan import overlaps_with_plans_dir
from provisioner.planfile import Plan, PlanFileError, load_plan

if TYPE_CHECKING:
    from provisioner.operations.plan_run import RunOptions

# Modules that import boto3 or build the step graph (operations/, aws/) are imported inside
# the functions: the parser imports every command module, and `validate`, `schema` or kubectl's
# `eks-token` should not pay for what `apply` needs.


def cmd_plan(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    return run_plan_command(args, out, err, "plan")


def cmd_apply(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    return run_plan_command(args, out, err, "apply")


def cmd_destroy(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    return run_plan_command(args, out, err, "destroy")


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
        overlaps = overlaps_with_plans_dir(plans, args.plans_dir)
        if overlaps:
            raise PlanFileError(overlaps)
    if len(plans) == 1:
        code, document = run_one(plans[0], args, out, err, operation)
        if args.output == "json":
            print(json.dumps(document, indent=2, default=str), file=out)
    else:
        code = run_several(plans, args, out, err, operation)
    if code == EXIT_INTERRUPTED:
        print("interrupted; run the same command again to finish.", file=err)
    return code


def run_several(plans: list[Plan], args: argparse.Namespace, out: TextIO, err: TextIO, operation: str) -> int:
    from provisioner.aws.accounts import AccountNotReady
    from provisioner.operations import run as several

    text = args.output == "text"
    destroy = operation == "destroy" or bool(getattr(args, "destroy", False))
    needs = several.dependencies(plans)
    order = several.reverse(needs) if destroy else needs
    if args.sandbox:
        # Start the sandbox once, before the plans' threads each ask for it.
        start_sandbox()
    out_lock = threading.Lock()
    estimates: dict[str, float] = {}
    start = time.monotonic()
    view = RunView(err, plans, args.verbose, start)

    def work(plan: Plan) -> tuple[int, dict[str, Any]]:
        buffer = PlanOut(out, out_lock)
        try:
            return run_one(
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
                    f"(estimated {duration(estimate['seconds'])}).",
                    file=buffer,
                )
            document: dict[str, Any] = {
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
            print("".join(traceback.format_exception(exc)), file=err, end="", flush=True)
        explained = credential_error(exc, args) if isinstance(exc, Exception) else None
        exc = explained or exc
        return exc.describe() if hasattr(exc, "describe") else f"{type(exc).__name__}: {redact(str(exc))}"

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
    with ctrl_c.several(cancel), view:
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
    if any(o.status == "interrupted" for o in outcomes) or (cancel.is_set() and ctrl_c.received):
        return EXIT_INTERRUPTED
    if any(o.status != "done" for o in outcomes):
        return EXIT_ERROR
    return EXIT_CHANGES if any(o.code == EXIT_CHANGES for o in outcomes) else EXIT_OK


def options_from(args: argparse.Namespace, operation: str) -> RunOptions:
    """The command line's options as the operation takes them (commands lack some flags)."""
    from provisioner.operations.plan_run import RunOptions

    return RunOptions(
        operation=operation,
        destroy=bool(getattr(args, "destroy", False)),
        region=args.region,
        workers=args.workers,
        apply_immediately=bool(getattr(args, "apply_immediately", False)),
        allow_protected=bool(getattr(args, "allow_protected", False)),
        allow_replace=tuple(getattr(args, "allow_replace", None) or ()),
        confirm=getattr(args, "confirm", None),
        lock_timeout=args.lock_timeout,
        sandbox=bool(args.sandbox),
    )


def run_one(
    plan: Plan,
    args: argparse.Namespace,
    out: TextIO,
    err: TextIO,
    operation: str,
    estimates: dict[str, float] | None = None,
    reporter: ProgressReporter | None = None,
) -> tuple[int, dict[str, Any]]:
    """One plan: check, plan, show, confirm, execute, show the result; (exit code, JSON document)."""
    from provisioner.engine import ProtectedPlanError
    from provisioner.operations.plan_run import PlanRun

    text = args.output == "text"
    options = options_from(args, operation)
    destroy = options.destroying
    run = PlanRun(
        plan,
        options,
        lambda plan, journal: make_session(args, plan, journal),
        reporter=reporter or ProgressReporter(err, args.verbose),
        ask=ask_if_terminal,
        notify=lambda message: print(message, file=err, flush=True),
        interrupted=lambda: bool(ctrl_c.received),
    )
    run.check()
    with run:
        session = run.session
        assert session is not None  # set on entering the run
        if text:
            print(f"Plan {plan.name} ({plan.kind}): {run.where}", file=out)
        planned = run.plan_changes()
        changeset, estimate = planned.changeset, planned.estimate
        if estimates is not None:
            estimates[plan.name] = float(estimate["seconds"]) if changeset.has_changes else 0.0
        if hasattr(run.reporter, "planned"):
            run.reporter.planned(
                len(changeset.changes), float(estimate["seconds"]), float(getattr(session, "poll_scale", 1.0) or 1.0)
            )
        if operation == "plan":
            if text:
                render_plan(plan, planned, [] if destroy else run.refused(), destroy, args.verbose, out)
            code = EXIT_CHANGES if (args.detailed_exitcode and changeset.has_changes) else EXIT_OK
            return code, plan_document(plan, planned, session.account_id, session.region, destroy)

        # apply / destroy: show the plan, confirm, execute.
        if text:
            render_changes(changeset, out, args.verbose)
            counts = destroy_summary(changeset) if destroy else changeset.summary()
            print(f"Plan: {render_summary(counts, destroy)}.", file=out)
            render_blockers(changeset, out)
        if operation == "apply":
            run.allow_replacements()
        if not changeset.has_changes:
            if text:
                print("Nothing to do.", file=out)
        else:
            if not args.yes:
                verb = "Apply" if operation == "apply" else "Destroy"
                if not is_terminal():
                    raise ProtectedPlanError(
                        f"{operation} needs confirmation and there is no terminal", hint="pass --yes"
                    )
                getattr(out, "publish", lambda: None)()  # several plans: show this plan's changes first
                if not confirm(f"{verb} these changes to {plan.name} ({run.where})? Type yes: ", "yes"):
                    print("Cancelled; nothing changed.", file=out)
                    return EXIT_ERROR, {"plan": plan.name, "status": "cancelled"}
            if text:
                print(f"Estimated time: {duration(estimate['seconds'])}.", file=out)
        # With nothing to change, this settles pending resources.
        with ctrl_c.executing(run.cancel, run.journal, run.lock):
            result = run.execute()
        if text:
            render_result(result, operation, out)
        document = run_report(result)
        if result.status == "interrupted":
            return EXIT_INTERRUPTED, document
        return (EXIT_OK if result.status == "ok" else EXIT_ERROR), document
