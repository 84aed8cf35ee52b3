"""Database URLs shown with every password masked: in the userinfo, in the query, when malformed."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from sqlalchemy.engine import URL

from config.urls import display_url, hide_url_secrets, url_secrets

SECRET = "S3cr3t-Zebra-91"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"postgresql+psycopg://alice:{SECRET}@db.example:5432/shop", "postgresql+psycopg://alice:***@db.example:5432/shop"),
        (f"postgresql://alice@db/shop?password={SECRET}", "postgresql://alice@db/shop?password=***"),
        (f"mariadb+pymysql://alice@db/shop?pwd={SECRET}&charset=utf8mb4", "mariadb+pymysql://alice@db/shop?charset=utf8mb4&pwd=***"),
        (f"mysql://alice@db/shop?passwd={SECRET}", "mysql://alice@db/shop?passwd=***"),
        (f"postgresql://alice@db/shop?sslmode=require&sslpassword={SECRET}", "postgresql://alice@db/shop?sslmode=require&sslpassword=***"),
        (f"sqlite:///var/baskets.db?password={SECRET}", "sqlite:///var/baskets.db?password=***"),
        ("postgresql://alice:p%40ss%2Fw0rd@db/shop", "postgresql://alice:***@db/shop"),
        # An unencoded '@' in the password: the parser takes its rest for the host.
        ("postgresql://alice:S3cr3t@Zebra@db/shop", "postgresql://alice:***@***@db/shop"),
        ("postgresql://alice:pw@[::1]:5432/shop", "postgresql://alice:***@[::1]:5432/shop"),
        # Malformed: not parseable as a URL at all, still masked.
        (f"postgresql://alice:{SECRET}@db:notaport/shop", "postgresql://alice:***@db:notaport/shop"),
        (f"postgres ql://alice:{SECRET}@db/shop?password={SECRET}", "postgres ql://alice:***@db/shop?password=***"),
        (f"host=db user=alice password={SECRET}", "host=db user=alice password=***"),
        # Nothing secret: shown as given.
        ("sqlite:///var/baskets.db", "sqlite:///var/baskets.db"),
        ("postgresql+psycopg://root@127.0.0.1:5432/test", "postgresql+psycopg://root@127.0.0.1:5432/test"),
        ("not a url", "not a url"),
    ],
)  # fmt: skip
def test_display_url_masks_every_password(url: str, shown: str) -> None:
    assert display_url(url) == shown


def test_display_url_takes_a_url_object() -> None:
    url = URL.create("postgresql+psycopg", "alice", SECRET, "db", 5432, "shop", {"pwd": SECRET})
    assert display_url(url) == "postgresql+psycopg://alice:***@db:5432/shop?pwd=***"


@given(password=st.text(min_size=8, max_size=40))
def test_no_password_survives_display(password: str) -> None:
    url = URL.create("postgresql+psycopg", "alice", password, "db", 5432, "shop", {"password": password})
    shown = display_url(url)
    assume(password not in "postgresql+psycopg://alice:***@db:5432/shop?password=***")
    assert password not in shown
    assert shown == "postgresql+psycopg://alice:***@db:5432/shop?password=***"


def test_hide_url_secrets_masks_the_password_in_any_spelling_in_a_message() -> None:
    url = "postgresql://alice:p%40ss-W0rd@db/shop?sslpassword=key-Pass-2"
    message = "could not connect with p@ss-W0rd (p%40ss-W0rd), sslpassword key-Pass-2; password=other"
    assert hide_url_secrets(message, url) == "could not connect with *** (***), sslpassword ***; password=***"


def test_hide_url_secrets_without_a_url_masks_password_pairs_only() -> None:
    assert (
        hide_url_secrets("bad dsn: host=x password=hunter22 port=1", None)
        == "bad dsn: host=x password=*** port=1"
    )


def test_url_secrets_lists_password_and_secret_query_values_only() -> None:
    url = "postgresql://alice:a%2Fb@db/shop?password=q1&sslmode=require"
    assert url_secrets(url) == ["a%2Fb", "a/b", "q1"]
    assert url_secrets("sqlite:///var/baskets.db") == []
    assert url_secrets(None) == []


@pytest.mark.parametrize(
    "filler",
    ["f" * 200_000, "pass" * 50_000, "password " * 20_000, "x-" * 100_000],
    ids=["word", "keys", "spaces", "dashes"],
)
def test_hide_url_secrets_on_a_huge_hostile_line_masks_a_pair_after_it(filler: str) -> None:
    # A pasted 200,000-character argument ends up in an error line; masking it must stay linear
    # (the pytest timeout stops a quadratic one) and still mask a secret pair after it.
    masked = hide_url_secrets(f"{filler} db_password=hunter22 done", None)
    assert masked.endswith(" db_password=*** done")
    assert "hunter22" not in masked
    assert len(masked) == len(filler) + len(" db_password=*** done")
