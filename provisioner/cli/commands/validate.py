"""`validate` (plan files offline, and the checks across them) and `schema`."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from provisioner.cli.exit_codes import EXIT_OK
from provisioner.operations.cross_plan import cross_plan_issues
from provisioner.planfile import PlanFileError, dump_schema, load_plan, plan_names


def cmd_validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    names = args.plans or plan_names(args.plans_dir)
    if not names:
        raise PlanFileError([])
    issues, loaded = [], []
    for name in names:
        try:
            loaded.append(load_plan(name, args.plans_dir))
        except PlanFileError as exc:
            issues.extend(exc.issues)
    issues.extend(cross_plan_issues(loaded))
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


def cmd_schema(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    print(dump_schema(), file=out)
    return EXIT_OK
