"""The command line's grammar: commands, their options, help, and usage errors.

Conventions (as Terraform and most Unix tools have them):

- a usage error (unknown command or flag, missing argument) exits 1, like any other error:
  argparse's default of 2 is what `plan --detailed-exitcode` means by "there are changes", so a
  CI job with a typo would read as drift;
- an unknown command or flag names the closest known one (difflib), as git does;
- each command's help lists only the options that command reads; shared options are defined
  once (`_OPTIONS`) and attached where they apply;
- every help ends with the environment variables the tool reads;
- each command names the function that runs it (`set_defaults(func=...)`, cli/commands/), so
  `main` dispatches without a chain of ifs.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TextIO

from provisioner.cli.commands import check, database, kube, run, sandbox, state, validate
from provisioner.planfile import DEFAULT_PLANS_DIR

# What runs a command: (parsed arguments, stdout, stderr) -> exit code.
Command = Callable[[argparse.Namespace, TextIO, TextIO], int]

EXIT_USAGE = 1

ENVIRONMENT_HELP = """\
environment variables:
  AWS_PROFILE, AWS_ACCESS_KEY_ID, ...  the standard AWS credential chain (--profile overrides
                                       AWS_PROFILE; --sandbox ignores all of them)
  AWS_REGION, AWS_DEFAULT_REGION       the region where no plan names it (the kubectl token helper)
  AWS_ENDPOINT_URL                     send every AWS call to this endpoint (a local emulator)
  PROVISIONER_HOME                     where journals, locks and the sandbox's state live
                                       (default: .provisioner/ in the current directory)
  PROVISIONER_KARPENTER_CRDS_DIR       read Karpenter's CRDs from this directory (offline);
                                       same as --karpenter-crds"""

# Shared options, defined once: name -> (flags, add_argument keywords, default when absent).
_OPTIONS: dict[str, tuple[tuple[str, ...], dict[str, Any], Any]] = {
    "sandbox": (
        ("--sandbox",),
        {"action": "store_true", "help": "target the local simulated AWS (started on first use); ignores AWS_PROFILE"},
        False,
    ),
    "profile": (
        ("--profile",),
        {"help": "AWS profile (default: AWS_PROFILE, else the standard credential chain)"},
        None,
    ),
    "region": (("--region",), {"help": "override the plan's region"}, None),
    "output": (
        ("--output",),
        {"choices": ("text", "json"), "default": "text", "help": "output format (default: text)"},
        "text",
    ),
    "yes": (("--yes",), {"action": "store_true", "help": "do not ask for confirmation"}, False),
    "verbose": (
        ("--verbose",),
        {"action": "store_true", "help": "show tracebacks, unchanged resources and where credentials come from"},
        False,
    ),
    "plans_dir": (
        ("--plans-dir",),
        {
            "type": Path,
            "default": DEFAULT_PLANS_DIR,
            "metavar": "DIR",
            "help": "where plan files live (default: plans/)",
        },
        DEFAULT_PLANS_DIR,
    ),
    "lock_timeout": (
        ("--lock-timeout",),
        {
            "type": float,
            "default": 0.0,
            "metavar": "SECONDS",
            "help": "seconds to wait for another run's lock (default: 0)",
        },
        0.0,
    ),
    "workers": (("--workers",), {"type": int, "default": None, "help": argparse.SUPPRESS}, None),
    "karpenter_crds": (
        ("--karpenter-crds",),
        {
            "metavar": "DIR",
            "type": Path,
            "help": "read Karpenter's CRDs from DIR (offline); they are checked against pinned digests",
        },
        None,
    ),
}
_TARGET = ("sandbox", "profile", "region")


class Parser(argparse.ArgumentParser):
    """argparse with the conventions of the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        kwargs.setdefault("epilog", ENVIRONMENT_HELP)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}{self._suggestion(message)}\n")

    def _suggestion(self, message: str) -> str:
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:
            options = re.findall(r"'([^']*)'", choice.group(2))
            close = difflib.get_close_matches(choice.group(1), options, n=1, cutoff=0.5)
            return f"\n  did you mean `{close[0]}`?" if close else ""
        return ""

    def parse_args(self, args: Any = None, namespace: Any = None) -> argparse.Namespace:  # type: ignore[override]
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            command = self._command_parser(parsed)
            known = sorted(command._option_string_actions) if command else []
            hints = []
            for extra in extras:
                flag = extra.split("=", 1)[0]
                close = difflib.get_close_matches(flag, known, n=1, cutoff=0.6) if flag.startswith("-") else []
                elsewhere = [
                    name
                    for name, p in self._commands().items()
                    if flag in p._option_string_actions and name != "eks-token"
                ]
                if close and close[0] != flag:
                    hints.append(f"\n  {flag}: did you mean `{close[0]}`?")
                elif elsewhere and command is not None:
                    hints.append(
                        f"\n  {flag} is not an option of `{command.prog.split()[-1]}` "
                        f"(only of {', '.join(sorted(elsewhere)[:4])}{', ...' if len(elsewhere) > 4 else ''})"
                    )
            (command or self).error(f"unrecognized arguments: {' '.join(extras)}{''.join(hints)}")
        command = self._command_parser(parsed)
        if command is not None and hasattr(parsed, "all_plans"):
            if parsed.all_plans and parsed.plans:
                command.error("name plans or pass --all, not both")
            if not parsed.all_plans and not parsed.plans:
                command.error("the following arguments are required: ENV (or --all)")
        for name, (_flags, _kwargs, default) in _OPTIONS.items():
            if not hasattr(parsed, name):
                setattr(parsed, name, default)
        return parsed

    def _commands(self) -> dict[str, argparse.ArgumentParser]:
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                return dict(action.choices)
        return {}

    def _command_parser(self, parsed: argparse.Namespace) -> argparse.ArgumentParser | None:
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                return action.choices.get(getattr(parsed, action.dest, None) or "")
        return None


def _add(parser: argparse.ArgumentParser, *names: str) -> None:
    for name in names:
        flags, kwargs, _default = _OPTIONS[name]
        parser.add_argument(*flags, dest=name, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="provisioner", description="Build Innovate Inc.'s AWS platform from plan files.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    def command(
        name: str, func: Command, help: str | None, *options: str, env: str | None = "+"
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        if env == "+":
            p.add_argument(
                "plans", nargs=1, metavar="ENV", help="the plan: a name in the plans directory (dev) or a file path"
            )
        elif env == "*":
            p.add_argument("plans", nargs="*", metavar="ENV", help="plan names or file paths")
        elif env == "++":
            # Several plans form one run (provisioner/operations/run.py); `--all` names every plan.
            p.add_argument(
                "plans",
                nargs="*",
                metavar="ENV",
                help="plan names or file paths; several form one run, ordered by what they need",
            )
            p.add_argument("--all", dest="all_plans", action="store_true", help="every plan in the plans directory")
        _add(p, *options)
        return p

    run_options = (*_TARGET, "output", "verbose", "plans_dir")
    p = command(
        "plan",
        run.cmd_plan,
        "show what apply would do (reads live state, writes nothing)",
        *run_options,
        "workers",
        "karpenter_crds",
        env="++",
    )
    p.add_argument("--detailed-exitcode", action="store_true", help="exit 2 when there are changes (0: none, 1: error)")
    p.add_argument("--destroy", action="store_true", help="show what destroy would delete")

    p = command(
        "apply",
        run.cmd_apply,
        "converge AWS to the plan",
        *run_options,
        "yes",
        "lock_timeout",
        "workers",
        "karpenter_crds",
        env="++",
    )
    p.add_argument(
        "--apply-immediately",
        action="store_true",
        help="make disruptive database changes now instead of in the maintenance window",
    )
    p.add_argument(
        "--allow-replace",
        action="append",
        default=[],
        metavar="KEY",
        help="in a protected plan, allow replacing or deleting this guarded resource (repeatable)",
    )
    p.add_argument("--confirm", metavar="NAME", help="the plan name, typed back to confirm --allow-replace (for CI)")

    p = command(
        "destroy",
        run.cmd_destroy,
        "delete everything the plan owns",
        *run_options,
        "yes",
        "lock_timeout",
        "workers",
        "karpenter_crds",
        env="++",
    )
    p.add_argument("--allow-protected", action="store_true", help="allow destroying a protected plan")
    p.add_argument("--confirm", metavar="NAME", help="the plan name, typed back (for CI)")

    command(
        "validate",
        validate.cmd_validate,
        "validate plan files offline (no AWS call)",
        "output",
        "verbose",
        "plans_dir",
        env="*",
    )

    p = command("schema", validate.cmd_schema, "print the JSON Schema of plan files", "verbose", env=None)
    # Accepted (every command takes it), but schema does not read plans.
    p.add_argument("--plans-dir", dest="plans_dir", type=Path, default=DEFAULT_PLANS_DIR, help=argparse.SUPPRESS)

    p = command(
        "manifests",
        kube.cmd_manifests,
        "print the Kubernetes objects apply installs (YAML stream); no AWS call unless --live",
        *_TARGET,
        "verbose",
        "plans_dir",
    )
    p.add_argument(
        "--live",
        action="store_true",
        help="read the cluster's endpoint from AWS (needs credentials, or --sandbox) instead of a placeholder",
    )

    p = command(
        "check", check.cmd_check, "check the security baseline on the plan and the live resources", *run_options
    )
    p.add_argument("--plan-only", action="store_true", help="check the plan file only (no AWS call)")

    p = command(
        "iam-policy",
        check.cmd_iam_policy,
        "print the least-privilege IAM policy this tool needs",
        "region",
        "verbose",
        "plans_dir",
        env="*",
    )
    p.add_argument(
        "--partition",
        help="the partition of every ARN in it (default: that of --region, else of the first plan's region, else aws)",
    )

    p = command(
        "snapshot",
        database.cmd_database,
        "take a manual snapshot of the environment's database and wait for it",
        *run_options,
        "lock_timeout",
    )
    p.add_argument("--name", help="snapshot name (default: <plan>-postgres-manual-<UTC time>)")

    p = command(
        "restore",
        database.cmd_database,
        "restore the database to a point in time into a new instance (a drill); list or delete drills",
        *run_options,
        "lock_timeout",
        "yes",
    )
    p.add_argument("--to", metavar="TIME", help="ISO 8601 time (UTC when no offset) or `latest`")
    p.add_argument("--as", dest="as_name", metavar="NAME", help="name of the new instance")
    p.add_argument("--subnet-group", help="DB subnet group to restore into (DR region)")
    p.add_argument("--security-group", dest="security_groups", action="append", help="security group id (repeatable)")
    p.add_argument(
        "--default-network", action="store_true", help="in the DR region, use the default VPC if no network is prepared"
    )
    p.add_argument(
        "--list", dest="list_drills", action="store_true", help="list the instances restore made for this plan (drills)"
    )
    p.add_argument(
        "--delete", dest="delete_drill", metavar="NAME", help="delete the drill instance NAME (no final snapshot)"
    )

    p = command(
        "kubeconfig",
        kube.cmd_kubeconfig,
        "print or write a kubeconfig for the environment's cluster",
        *_TARGET,
        "verbose",
        "plans_dir",
    )
    p.add_argument("--write", metavar="PATH", type=Path, help="write it to PATH (mode 0600) instead of printing")

    # kubectl's exec credential plugin (what `aws eks get-token` does); used by `kubeconfig`.
    p = command("eks-token", kube.cmd_eks_token, None, *_TARGET, "verbose", env=None)
    p.add_argument("--cluster", required=True)
    p.add_argument("--role-arn", help="assume this role first (the plan's account access role)")
    # Not listed in the top-level help: argparse would print `==SUPPRESS==` for it.
    sub._choices_actions = [a for a in sub._choices_actions if a.dest != "eks-token"]

    command(
        "unlock",
        state.cmd_unlock,
        "break a stale lock of a plan (after confirmation)",
        *_TARGET,
        "output",
        "verbose",
        "plans_dir",
        "yes",
        "lock_timeout",
    )

    p = command(
        "history", state.cmd_history, "list past runs of a plan from the journal", "output", "verbose", "plans_dir"
    )
    p.add_argument(
        "--limit", type=int, default=20, metavar="N", help="show the N most recent runs (default 20; 0: all)"
    )

    p = command(
        "sandbox", sandbox.cmd_sandbox, "manage the local simulated AWS", "output", "verbose", "plans_dir", env=None
    )
    p.add_argument("action", choices=("start", "stop", "status", "reset", "faults"))
    p.add_argument(
        "--latency",
        type=float,
        default=None,
        metavar="SCALE",
        help="with start: slow operations take p50 x SCALE seconds of the latency model (1 is real AWS time)",
    )
    p.add_argument(
        "--faults",
        default=None,
        metavar="SPEC",
        help="with start: throttle=R,error=R answers that share of calls with a throttle or HTTP 500; "
        "fail=Operation (or service:Operation) always fails it, fail=service:Operation@ACCOUNT only in one "
        "account (an id, an email, or an account key of the plans' organization.yaml: @staging); "
        "seed=N makes the faults repeatable. With faults: change a running sandbox's faults (none: off)",
    )
    return parser
