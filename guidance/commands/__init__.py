"""One module per ``gestes`` subcommand; each has ``add_parser(subparsers)`` and ``run(args)``."""
