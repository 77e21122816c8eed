"""Subcommands of `tds`; each module has `register(subparsers)`."""
