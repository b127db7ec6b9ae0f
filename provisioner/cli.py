"""Commands, options, rendering (text and JSON) and exit codes (SPEC sections 3 and 4).

Exit codes, as Terraform users expect: 0 success; 1 error or invalid input; 2 from
`plan --detailed-exitcode` when there are changes; 130 after Ctrl-C. Errors are one clear
message (step, key, AWS code, what to do next); a traceback only with `--verbose`.
Progress goes to stderr, so `--output json` keeps stdout a single JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from provisioner import paths
from provisioner.planfile import DEFAULT_PLANS_DIR, Plan, PlanFileError, dump_schema, load_plan, plan_names

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_INTERRUPTED = 0, 1, 2, 130


# ----------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--sandbox", action="store_true", help="target the local simulated AWS (started on first use)")
    common.add_argument("--profile", help="AWS profile (default: the standard credential chain)")
    common.add_argument("--region", help="override the plan's region")
    common.add_argument("--output", choices=("text", "json"), default="text")
    common.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    common.add_argument("--verbose", action="store_true", help="show tracebacks and unchanged resources")
    common.add_argument("--plans-dir", type=Path, default=DEFAULT_PLANS_DIR, help="where plan files live (default: plans/)")
    common.add_argument("--lock-timeout", type=float, default=0.0, help="seconds to wait for another run's lock")
    common.add_argument("--workers", type=int, default=None, help=argparse.SUPPRESS)
    common.add_argument("--karpenter-crds", metavar="DIR", type=Path,
                        help="read Karpenter's CRDs from DIR (offline); they are checked against pinned digests")

    parser = argparse.ArgumentParser(prog="provisioner", description="Build Innovate Inc.'s AWS platform from plan files.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("plan", parents=[common], help="show what apply would do (reads live state, writes nothing)")
    p.add_argument("plans", nargs="+", metavar="ENV")
    p.add_argument("--detailed-exitcode", action="store_true", help="exit 2 when there are changes")
    p.add_argument("--destroy", action="store_true", help="show what destroy would delete")

    p = sub.add_parser("apply", parents=[common], help="converge AWS to the plan")
    p.add_argument("plans", nargs="+", metavar="ENV")
    p.add_argument("--apply-immediately", action="store_true",
                   help="make disruptive database changes now instead of in the maintenance window")

    p = sub.add_parser("destroy", parents=[common], help="delete everything the plan owns")
    p.add_argument("plans", nargs=1, metavar="ENV")
    p.add_argument("--allow-protected", action="store_true", help="allow destroying a protected plan")
    p.add_argument("--confirm", metavar="NAME", help="the plan name, typed back (for CI)")

    p = sub.add_parser("validate", parents=[common], help="validate plan files offline (no AWS call)")
    p.add_argument("plans", nargs="*", metavar="ENV")

    sub.add_parser("schema", parents=[common], help="print the JSON Schema of plan files")

    p = sub.add_parser("manifests", parents=[common], help="print the Kubernetes objects apply installs (YAML stream)")
    p.add_argument("plans", nargs=1, metavar="ENV")

    p = sub.add_parser("snapshot", parents=[common], help="take a manual snapshot of the environment's database and wait for it")
    p.add_argument("plans", nargs=1, metavar="ENV")
    p.add_argument("--name", help="snapshot name (default: <plan>-postgres-manual-<UTC time>)")

    p = sub.add_parser("restore", parents=[common], help="restore the database to a point in time into a new instance")
    p.add_argument("plans", nargs=1, metavar="ENV")
    p.add_argument("--to", required=True, metavar="TIME", help="ISO 8601 time (UTC when no offset) or `latest`")
    p.add_argument("--as", dest="as_name", metavar="NAME", help="name of the new instance")
    p.add_argument("--subnet-group", help="DB subnet group to restore into (DR region)")
    p.add_argument("--security-group", dest="security_groups", action="append", help="security group id (repeatable)")
    p.add_argument("--default-network", action="store_true", help="in the DR region, use the default VPC if no network is prepared")

    p = sub.add_parser("kubeconfig", parents=[common], help="print or write a kubeconfig for the environment's cluster")
    p.add_argument("plans", nargs=1, metavar="ENV")
    p.add_argument("--write", metavar="PATH", type=Path, help="write it to PATH (mode 0600) instead of printing")

    # kubectl's exec credential plugin (what `aws eks get-token` does); used by `kubeconfig`.
    p = sub.add_parser("eks-token", parents=[common], help=argparse.SUPPRESS)
    p.add_argument("--cluster", required=True)
    p.add_argument("--role-arn", help="assume this role first (the plan's account access role)")

    p = sub.add_parser("sandbox", parents=[common], help="manage the local simulated AWS")
    p.add_argument("action", choices=("start", "stop", "status", "reset"))
    p.add_argument("--latency", type=float, default=None, metavar="SCALE",
                   help="with start: slow operations take p50 x SCALE seconds of the latency model (1 is real AWS time)")
    return parser


# ---------------------------------------------------------------------------------- output
class ProgressReporter:
    """Line-based progress on stderr: which nodes start, wait (on what) and finish."""

    def __init__(self, stream: TextIO, verbose: bool = False):
        self.stream = stream
        self.verbose = verbose
        self.start = time.monotonic()
        self._lock = threading.Lock()

    def event(self, kind: str, key: str | None, message: str, **data: Any) -> None:
        symbols = {"start": "..", "done": "ok", "fail": "!!", "skip": "--", "progress": "  ", "interrupt": "^C"}
        if kind == "done" and message == "unchanged" and not self.verbose:
            return
        elapsed = time.monotonic() - self.start
        change = data.get("change") or {}
        detail = f" ({change['id']})" if change.get("id") else ""
        line = f"[{elapsed:7.1f}s] {symbols.get(kind, '  ')} {key + ' ' if key else ''}{message}{detail}"
        with self._lock:
            print(line, file=self.stream, flush=True)
        if kind == "fail" and self.verbose and data.get("exc_info") is not None:
            import traceback

            traceback.print_exception(data["exc_info"], file=self.stream)


def _fmt(value: Any) -> str:
    from provisioner.engine.change import jsonable

    if value is None:
        return "(none)"
    if isinstance(value, (dict, list)):
        return json.dumps(jsonable(value), sort_keys=True)
    return str(value)


def render_changes(changeset: Any, out: TextIO, verbose: bool, past: bool = False) -> None:
    marks = {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "noop": " "}
    for change in changeset.changes:
        if change.action.value == "noop" and not verbose and not change.info:
            continue
        verb = change.action.verb[1] if past else change.action.verb[0]
        suffix = f" ({change.reason})" if change.reason else ""
        ident = f" [{change.id}]" if change.id else ""
        print(f"  {marks[change.action.value]:>3} {change.key}  {change.type}{ident}  {verb}{suffix}", file=out)
        for field, values in change.diff.items():
            print(f"          {field}: {_fmt(values.get('from'))} -> {_fmt(values.get('to'))}", file=out)
        for field, value in change.info.items():
            print(f"          ({field}: {_fmt(value)})", file=out)


def render_summary(summary: dict[str, int]) -> str:
    return (f"{summary['create']} to create, {summary['update']} to update, {summary['replace']} to replace, "
            f"{summary['delete']} to delete, {summary['noop']} unchanged")


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


# --------------------------------------------------------------------------------- session
def make_session(args: argparse.Namespace, plan: Plan, journal: Any = None) -> Any:
    from provisioner.aws import AwsSession

    region = args.region or getattr(plan.spec, "region")
    if args.sandbox:
        from provisioner import sandbox

        endpoint = sandbox.ensure_running()
        return AwsSession(region=region, endpoint_url=endpoint, journal=journal, credentials={
            "aws_access_key_id": sandbox.SANDBOX_ACCESS_KEY_ID,
            "aws_secret_access_key": sandbox.SANDBOX_SECRET_ACCESS_KEY,
        })
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
        print(json.dumps({"valid": not issues, "plans": [p.name for p in loaded], "issues": [i.as_dict() for i in issues]}, indent=2), file=out)
    if issues:
        raise PlanFileError(issues)
    if args.output == "text":
        for plan in loaded:
            print(f"ok  {plan.path}  ({plan.kind}{', protected' if plan.protected else ''})", file=out)
    return EXIT_OK


def _cross_plan_issues(plans: list[Plan]) -> list[Any]:
    """Environment VPCs must not overlap each other (they may be peered or routed later)."""
    import ipaddress

    from provisioner.planfile import EnvironmentPlan, PlanIssue

    issues = []
    envs = [p for p in plans if isinstance(p.spec, EnvironmentPlan)]
    for i, a in enumerate(envs):
        for b in envs[i + 1:]:
            if ipaddress.IPv4Network(a.spec.network.cidr).overlaps(ipaddress.IPv4Network(b.spec.network.cidr)):  # type: ignore[union-attr]
                issues.append(PlanIssue(str(b.path), None, "network.cidr", f"{b.spec.network.cidr} overlaps plan {a.name}'s {a.spec.network.cidr}", "a distinct, non-overlapping range per environment"))  # type: ignore[union-attr]
    return issues


def _ask(prompt: str) -> str:
    """Prompts go to stderr, so `--output json` keeps stdout one JSON document."""
    print(prompt, end="", file=sys.stderr, flush=True)
    return sys.stdin.readline().strip()


def _confirm(prompt: str, expected: str, args: argparse.Namespace) -> bool:
    if not sys.stdin or not sys.stdin.isatty():
        return False
    return _ask(prompt) == expected


def run_plan_command(args: argparse.Namespace, out: TextIO, err: TextIO, operation: str) -> int:
    """plan / apply / destroy for each named plan in order; stops at the first failure."""
    exit_code = EXIT_OK
    plans = [load_plan(name, args.plans_dir) for name in args.plans]  # validate all before any call
    documents = []
    for plan in plans:
        code, document = _run_one(plan, args, out, err, operation)
        documents.append(document)
        exit_code = max(exit_code, code) if code != EXIT_INTERRUPTED else code
        if code not in (EXIT_OK, EXIT_CHANGES):
            break
    if args.output == "json":
        print(json.dumps(documents[0] if len(documents) == 1 else documents, indent=2, default=str), file=out)
    return exit_code


def _run_one(plan: Plan, args: argparse.Namespace, out: TextIO, err: TextIO, operation: str) -> tuple[int, dict[str, Any]]:
    from provisioner.engine import ProtectedPlanError, Runner, RunContext
    from provisioner.engine.journal import Journal
    from provisioner.engine.lock import LocalLock
    from provisioner.steps import build

    text = args.output == "text"
    destroy = operation == "destroy" or (operation == "plan" and args.destroy)
    if operation == "destroy" and plan.protected:
        if not args.allow_protected:
            raise ProtectedPlanError(
                f"plan {plan.name} is protected; destroy refuses",
                hint=f"pass --allow-protected and type the plan name back (or --confirm {plan.name} in CI)",
            )
        typed = args.confirm if args.confirm is not None else (_ask(f"Type the plan name ({plan.name}) to destroy it: ") if sys.stdin and sys.stdin.isatty() else None)
        if typed != plan.name:
            raise ProtectedPlanError(f"plan {plan.name} is protected and its name was not typed back", hint=f"--confirm {plan.name}")

    # Building the graph checks what only the steps know (SCP documents, ...) before any call.
    build(plan, args.region or getattr(plan.spec, "region", None))
    reporter = ProgressReporter(err, args.verbose)
    lock = None
    journal = None
    if operation != "plan":
        lock = LocalLock(paths.subdir("locks"), plan.name, operation, timeout=args.lock_timeout)
        lock.acquire()
    try:
        if operation != "plan":
            journal = Journal(paths.subdir("runs"), plan.name, operation)
        from provisioner.aws.accounts import organization_account_ids, session_for_plan

        management = make_session(args, plan, journal)
        session = session_for_plan(management, plan)
        account_ids = organization_account_ids(management, plan)
        ctx = RunContext(plan=plan, aws=session, reporter=reporter, journal=journal,
                         allow_protected=(operation == "destroy" and plan.protected),
                         apply_immediately=bool(getattr(args, "apply_immediately", False)))
        runner = Runner(ctx, build(plan, session.region, account_ids), **({"workers": args.workers} if args.workers else {}))
        where = f"account {session.account_id}, region {session.region}" + (" (sandbox)" if args.sandbox else "")
        if text:
            print(f"Plan {plan.name} ({plan.kind}): {where}", file=out)
        if journal:
            journal.record("target", account=session.account_id, region=session.region, sandbox=bool(args.sandbox))
        changeset = runner.plan(destroy=destroy)
        estimate = runner.estimate(changeset, destroy=destroy)
        if operation == "plan":
            summary = changeset.summary()
            if text:
                render_changes(changeset, out, args.verbose)
                print(f"Plan: {render_summary(summary)}.", file=out)
                if changeset.has_changes:
                    print(f"Estimated {'destroy' if destroy else 'apply'} time: {_duration(estimate['seconds'])} "
                          f"(serial: {_duration(estimate['serial_seconds'])}); critical path: {' -> '.join(estimate['critical_path'])}", file=out)
            document = {"plan": plan.name, "kind": plan.kind, "account": session.account_id, "region": session.region,
                        "changes": [c.as_dict() for c in changeset.changes], "summary": summary, "estimate": estimate}
            code = EXIT_CHANGES if (args.detailed_exitcode and changeset.has_changes) else EXIT_OK
            return code, document

        # apply / destroy: show the plan, confirm, execute.
        if text:
            render_changes(changeset, out, args.verbose)
            print(f"Plan: {render_summary(changeset.summary())}.", file=out)
        if not changeset.has_changes:
            if text:
                print("Nothing to do.", file=out)
            result = runner.apply() if operation == "apply" else runner.destroy()  # settles pending resources
        else:
            if not args.yes:
                verb = "Apply" if operation == "apply" else "Destroy"
                if not (sys.stdin and sys.stdin.isatty()):
                    raise ProtectedPlanError(f"{operation} needs confirmation and there is no terminal", hint="pass --yes")
                if not _confirm(f"{verb} these changes to {plan.name} ({where})? Type yes: ", "yes", args):
                    print("Cancelled; nothing changed.", file=out)
                    return EXIT_ERROR, {"plan": plan.name, "status": "cancelled"}
            if text:
                print(f"Estimated time: {_duration(estimate['seconds'])}.", file=out)
            result = runner.apply() if operation == "apply" else runner.destroy()
        document = run_report(result)
        if journal:
            for node in result.results.values():
                journal.record("node", **node.as_dict())
        if text:
            done = [c for c in result.changeset.changes if c.action.value != "noop"]
            print(f"{operation.capitalize()} {result.status}: {len(done)} change(s) in {_duration(result.duration)}.", file=out)
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
            journal.close("error")
        if lock:
            lock.release()


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


def cmd_database(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`snapshot` and `restore`: operations on a bad day, under the plan's lock and journal."""
    from provisioner.engine import PermanentError, RunContext
    from provisioner.engine.journal import Journal
    from provisioner.engine.lock import LocalLock
    from provisioner.operations import rds as operations
    from provisioner.planfile import EnvironmentPlan

    plan = load_plan(args.plans[0], args.plans_dir)
    if not isinstance(plan.spec, EnvironmentPlan):
        raise PermanentError(f"plan {plan.name} is a {plan.kind} plan and has no database")
    target_region = args.region if args.command == "restore" else None
    when = operations.parse_time(args.to) if args.command == "restore" else None
    if args.command == "restore":
        args.region = None  # --region is where to restore to; the session works from the plan's region
    with LocalLock(paths.subdir("locks"), plan.name, args.command, timeout=args.lock_timeout):
        journal = Journal(paths.subdir("runs"), plan.name, args.command)
        status = "error"
        try:
            from provisioner.aws.accounts import session_for_plan

            session = session_for_plan(make_session(args, plan, journal), plan)
            ctx = RunContext(plan=plan, aws=session, reporter=ProgressReporter(err, args.verbose), journal=journal, dry_run=False)
            if args.command == "snapshot":
                result = operations.take_snapshot(ctx, plan, name=args.name)
            else:
                result = operations.restore_to_time(
                    ctx, plan, when, region=target_region, as_name=args.as_name, subnet_group=args.subnet_group,
                    security_group_ids=args.security_groups, use_default_network=args.default_network)
            status = "ok"
        finally:
            journal.close(status)
    if args.output == "json":
        print(json.dumps(result, indent=2, default=str), file=out)
    else:
        print(", ".join(f"{k}: {v}" for k, v in result.items() if v is not None), file=out)
    return EXIT_OK


def cmd_manifests(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Every Kubernetes object apply installs except the upstream CRDs, for GitOps users.
    The cluster endpoint is included when the cluster exists (else Karpenter looks it up)."""
    from provisioner.engine import PermanentError
    from provisioner.planfile import EnvironmentPlan
    from provisioner.steps.karpenter import cluster

    plan = load_plan(args.plans[0], args.plans_dir)
    if not isinstance(plan.spec, EnvironmentPlan):
        raise PermanentError(f"plan {plan.name} is a {plan.kind} plan and installs nothing in Kubernetes")
    region = args.region or plan.spec.region
    endpoint = None
    try:
        from provisioner.aws.accounts import session_for_plan

        endpoint = cluster.cluster_endpoint(session_for_plan(make_session(args, plan), plan), plan)
    except Exception as exc:  # no credentials, no network, no cluster yet: render without it
        print(f"note: cluster endpoint not included ({type(exc).__name__}); Karpenter will look it up", file=err)
    out.write(cluster.render_manifests(plan, region, endpoint))
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
        raise PermanentError(f"cluster {name} does not exist in account {session.account_id}, {session.region}",
                             hint=f"run `provisioner apply {plan.name}{' --sandbox' if args.sandbox else ''}` first") from None
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
    user: dict[str, Any] = {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1beta1", "command": sys.executable, "args": exec_args,
        "interactiveMode": "Never", "provideClusterInfo": False,
    }}
    if env:
        user["exec"]["env"] = env
    config = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": cluster["arn"], "cluster": {
            "server": cluster["endpoint"], "certificate-authority-data": cluster["certificateAuthority"]["data"]}}],
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
    from datetime import datetime, timedelta, timezone

    from provisioner.aws import AwsSession
    from provisioner.aws.eks_token import eks_token

    region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    if args.sandbox:
        from provisioner import sandbox

        session = AwsSession(region=region, endpoint_url=sandbox.ensure_running(), credentials={
            "aws_access_key_id": sandbox.SANDBOX_ACCESS_KEY_ID, "aws_secret_access_key": sandbox.SANDBOX_SECRET_ACCESS_KEY})
    else:
        session = AwsSession(region=region, profile=args.profile)
    if args.role_arn:
        from provisioner.aws.accounts import assume_role

        account, role = args.role_arn.split(":")[4], args.role_arn.split("/", 1)[1]
        session = assume_role(session, account, role, f"provisioner-kubectl-{args.cluster}")
    token = eks_token(session, args.cluster, region)
    # EKS accepts a token for 15 minutes; tell kubectl to refresh it well before.
    expires = (datetime.now(timezone.utc) + timedelta(minutes=14)).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(json.dumps({"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1beta1", "spec": {},
                      "status": {"expirationTimestamp": expires, "token": token}}), file=out)
    return EXIT_OK


def cmd_sandbox(args: argparse.Namespace, out: TextIO) -> int:
    from provisioner import sandbox

    if args.action == "start":
        if args.latency is not None and args.latency < 0:
            print("error: --latency must be 0 or more", file=sys.stderr)
            return EXIT_ERROR
        state = sandbox.start(latency=args.latency)
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
    elif state.get("running"):
        print(f"sandbox running at {state['aws_endpoint_url']} (pid {state.get('pid')}, since {state.get('started_at')}, "
              f"latency x{state.get('latency', 0.0)})", file=out)
    else:
        print("sandbox not running", file=out)
    return EXIT_OK


# ------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(argv)
    from provisioner.engine.errors import Interrupted, ProvisionerError

    if getattr(args, "karpenter_crds", None):
        from provisioner.steps.karpenter import crds

        if not args.karpenter_crds.is_dir():
            print(f"error: --karpenter-crds {args.karpenter_crds}: not a directory", file=err)
            return EXIT_ERROR
        os.environ[crds.ENV_DIR] = str(args.karpenter_crds.resolve())
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
        return run_plan_command(args, out, err, args.command)
    except PlanFileError as exc:
        print(f"error: {exc}" if exc.issues else "error: no plan files found", file=err)
        print("Nothing was sent to AWS.", file=err)
        return EXIT_ERROR
    except (KeyboardInterrupt, Interrupted):
        print("interrupted; run the same command again to finish.", file=err)
        return EXIT_INTERRUPTED
    except ProvisionerError as exc:
        if args.verbose:
            import traceback

            traceback.print_exc(file=err)
        print(f"error: {exc.describe()}", file=err)
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - the last line of defence: a message, not a traceback
        if args.verbose:
            import traceback

            traceback.print_exc(file=err)
        print(f"error: {type(exc).__name__}: {_redact(str(exc))}", file=err)
        if not args.verbose:
            print("(run with --verbose for the traceback)", file=err)
        return EXIT_ERROR


def _redact(text: str) -> str:
    return text if len(text) < 2000 else text[:2000] + "..."


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
