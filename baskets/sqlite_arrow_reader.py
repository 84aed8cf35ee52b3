"""Child process that reads an SQLite query with ADBC and streams Arrow IPC to stdout.

ADBC's SQLite driver links its own copy of SQLite. Two copies of SQLite in one process must
never open the same database file: POSIX locks are per process, so when one copy closes its
file it silently drops the other copy's locks, and a copy that believes it closed the last
connection checkpoints and deletes the WAL and shared-memory files under the other one
("disk I/O error", and worse for other processes). The export therefore runs ADBC here, in a
process of its own, and the parent reads the batches from a pipe.

    python -m baskets.sqlite_arrow_reader DATABASE_PATH BATCH_ROWS < query.sql
"""

from __future__ import annotations

import sys


def main() -> int:
    import adbc_driver_sqlite.dbapi as adbc_sqlite
    import pyarrow as pa

    database, batch_rows = sys.argv[1], sys.argv[2]
    sql = sys.stdin.read()
    with adbc_sqlite.connect(database) as connection, connection.cursor() as cursor:
        cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": batch_rows})
        cursor.execute(sql)
        reader = cursor.fetch_record_batch()
        with pa.ipc.new_stream(sys.stdout.buffer, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as error:  # noqa: BLE001 - the parent reports this one line
        sys.stderr.write(f"{type(error).__name__}: {str(error).strip().splitlines()[0]}\n")
        sys.exit(1)
