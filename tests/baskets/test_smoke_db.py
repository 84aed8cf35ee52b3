from sqlalchemy import text

from tests.conftest import DatabaseUnderTest


def test_fresh_database_has_genesis_chain_head(db: DatabaseUnderTest) -> None:
    with db.engine.connect() as connection:
        assert connection.execute(text("select seq, hash from audit_chain_head")).one() == (0, "0" * 64)
