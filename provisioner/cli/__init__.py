"""The command line: commands, options, rendering (text and JSON) and exit codes (SPEC
sections 3 and 4).

- `parser.py`: the grammar (commands, options, help, usage errors), each command naming its
  function;
- `app.py`: `main`, which runs the command and turns errors into one message and an exit
  code (`exit_codes.py`);
- `commands/`: one module per group of commands; `plan`, `apply` and `destroy` call
  operations/plan_run.py and operations/run.py, which hold the order of things;
- `render.py` and `view.py`: text and JSON output, progress, the live view of several plans;
- `session.py` (credentials or the sandbox), `prompts.py`, `ctrl_c.py`.

Only this package imports the sandbox (an import contract in pyproject).
"""

from provisioner.cli.app import main

__all__ = ["main"]
