"""One module per ``smtpsniff`` subcommand; each has ``register(subparsers)``."""
