"""Exit codes, as Terraform users expect: 0 success; 1 an error, invalid input or a usage error
(parser.py); 2 only from `plan --detailed-exitcode` when there are changes; 130 after Ctrl-C.

operations/run.py reads the same numbers as a plan's outcome (done, done with changes,
interrupted) in a run of several plans.
"""

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_INTERRUPTED = 0, 1, 2, 130
