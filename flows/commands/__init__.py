"""The `baskets` subcommands beyond the foundation, one module per area, each with register(app)."""
