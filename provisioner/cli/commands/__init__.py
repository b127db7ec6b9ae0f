"""The commands, one module per group; each command is `cmd_<name>(args, out, err) -> exit code`
and parser.py attaches it to its subcommand."""
