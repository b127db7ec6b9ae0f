"""`sandbox start|stop|status|reset|faults`: the local simulated AWS (provisioner/sandbox/)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from provisioner.cli.exit_codes import EXIT_ERROR, EXIT_OK


def cmd_sandbox(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
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
