"""`baskets schema check`: whether the schema mapping fits the database, read-only."""

from __future__ import annotations

import dataclasses

import typer

from baskets.errors import BadInput
from cli.console import DatabaseUrl, JsonOutput, emit_json, read_settings, stdout

app = typer.Typer(help="The shop's own tables (docs/schema-mapping.md).", no_args_is_help=True)


@app.command("check")
def check_command(database_url: DatabaseUrl = None, json_output: JsonOutput = False) -> int:
    """Compare the schema mapping with the live database, without writing anything.

    Tables, columns, types, foreign keys and their delete rules, tables the mapping forgot.

    Indexes a cleanup needs, with the CREATE INDEX to run. Exit 0 when it fits, 2 when not.
    """
    from baskets.db import make_engine
    from baskets.schema import load_mapping
    from baskets.schema.check import check_mapping
    from cli.console import check_sqlite_file

    settings = read_settings(database_url)
    mapping = load_mapping(settings.schema)
    if mapping is None:
        raise BadInput(
            "schema: builtin has nothing to check (expected a preset or mapping file in BASKETS_SCHEMA)"
        )
    check_sqlite_file(settings.database_url, creates_database=False)
    engine = make_engine(settings.database_url, connect_timeout_seconds=settings.connect_timeout_seconds)
    try:
        result = check_mapping(engine, mapping, settings.bookkeeping_prefix)
    finally:
        engine.dispose()
    if json_output:
        emit_json({**dataclasses.asdict(result), "fits": result.fits})
    else:
        for line in result.problems:
            stdout.print(f"does not fit: {line}", markup=False, highlight=False)
        for index in result.missing_indexes:
            stdout.print(
                f"missing index on {index.table}.{index.column}: {index.create}",
                markup=False,
                highlight=False,
            )
        for line in result.notes:
            stdout.print(f"note: {line}", markup=False, highlight=False)
        verdict = "fits" if result.fits else "does not fit"
        stdout.print(f"schema {mapping.name} {verdict} the database", markup=False, highlight=False)
    return 0 if result.fits else 2
