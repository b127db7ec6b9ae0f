"""`main`: parse the command line, run the command it names, and turn what went wrong into one
clear message and an exit code (exit_codes.py).

Errors are one clear message (step, key, AWS code, what to do next); a traceback only with
`--verbose`. Progress goes to stderr, so `--output json` keeps stdout a single JSON document.
Each command is a function `(args, out, err) -> exit code` that parser.py attaches to its
subcommand (`set_defaults(func=...)`); the commands live in cli/commands/.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from typing import TextIO

from provisioner.cli.ctrl_c import ctrl_c
from provisioner.cli.exit_codes import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK
from provisioner.cli.parser import build_parser
from provisioner.cli.session import credential_error, redact
from provisioner.engine.errors import Interrupted, ProvisionerError
from provisioner.planfile import PlanFileError


def main(argv: list[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (1, see parser.py)
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
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
    previous_handler = ctrl_c.install(err)
    try:
        code: int = args.func(args, out, err)
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
            traceback.print_exc(file=err)
        print(f"error: {(credential_error(exc, args) or exc).describe()}", file=err)
        return EXIT_ERROR
    except Exception as exc:
        if args.verbose:
            traceback.print_exc(file=err)
        explained = credential_error(exc, args)
        if explained is not None:
            print(f"error: {explained.describe()}", file=err)
            return EXIT_ERROR
        print(f"error: {type(exc).__name__}: {redact(str(exc))}", file=err)
        if not args.verbose:
            print("(run with --verbose for the traceback)", file=err)
        return EXIT_ERROR
    finally:
        ctrl_c.uninstall(previous_handler)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
