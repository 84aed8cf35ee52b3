"""The `baskets` command line: one Typer app per command group, joined in cli.main."""
