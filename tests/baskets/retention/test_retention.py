"""Retention without Prefect: expiry per type and for empty baskets, batches, safety, run records, snapshot."""

from __future__ import annotations

import datetime as dt
import json
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import OperationalError

from baskets import retention
from baskets.audit import canonical_quantity
from baskets.backends import transports
from baskets.errors import BadInput, BasketsError, SafetyLimitHit
from baskets.models import Basket, BasketAudit, BasketLine, CleanupRun
from baskets.retention import (
    CATEGORIES,
    RetentionPolicy,
    RunTally,
    check_safety_share,
    cleanup_run_record,
    delete_expired_batch,
    finish_cleanup_run,
    plan_cleanup,
    record_skipped_baskets,
    record_snapshot,
    runs_missing_snapshot,
    select_expired_basket_ids,
    selected_ahead,
    snapshot_schema,
    start_cleanup_run,
    walk_expired_batches,
    write_parquet_snapshot,
)
from baskets.roles import RETENTION_ACTOR, RETENTION_ROLE, Actor
from config.settings import RetentionSettings
from tests.conftest import NOW, DatabaseUnderTest, seed

POLICY = RetentionPolicy(days={"anonymous": 30, "contact": 90, "customer": 180}, empty_basket_days=1)
ACTOR = Actor(RETENTION_ACTOR, RETENTION_ROLE)
STORED = {"anonymous": "Anonymous", "contact": "Contact", "customer": "Customer"}


def add_basket(db: DatabaseUnderTest, kind: str, age: dt.timedelta, lines: int = 1) -> str:
    """A basket of account type `kind`, last modified `age` before NOW, with `lines` lines."""
    basket_id = str(uuid.uuid4())
    with db.engine.begin() as connection:
        connection.execute(
            insert(Basket).values(
                id=basket_id,
                account_type=STORED[kind],
                created_at=NOW - age - dt.timedelta(days=1),
                modified_at=NOW - age,
            )
        )
        for number in range(lines):
            connection.execute(
                insert(BasketLine).values(
                    basket_id=basket_id, product_id=f"ITEM-{number:05d}", quantity=Decimal("2.5")
                )
            )
    return basket_id


def remaining_ids(db: DatabaseUnderTest) -> set[str]:
    with db.engine.connect() as connection:
        return {str(basket_id) for basket_id in connection.scalars(select(Basket.id))}


def audited_ids(db: DatabaseUnderTest) -> list[str]:
    with db.engine.connect() as connection:
        return [str(basket_id) for basket_id in connection.scalars(select(BasketAudit.basket_id))]


def run_all_batches(db: DatabaseUnderTest, policy: RetentionPolicy = POLICY) -> tuple[int, RunTally]:
    run_id, _ = start_cleanup_run(db.engine, actor=ACTOR, dry_run=False, as_of=NOW, flow_run_id=None)
    tally = RunTally()
    for batch in walk_expired_batches(db.engine, policy, NOW):
        tally = delete_expired_batch(
            db.engine, batch, policy=policy, now=NOW, actor=ACTOR, run_id=run_id, tally=tally
        ).tally
    return run_id, tally


def test_policy_comes_from_the_settings() -> None:
    policy = RetentionPolicy.from_settings(
        RetentionSettings(
            days={"anonymous": 7, "contact": 60, "customer": 365}, empty_basket_days=2, batch_size=50
        )
    )
    assert policy.days == {"anonymous": 7, "contact": 60, "customer": 365}
    assert (policy.empty_basket_days, policy.batch_size, policy.max_share) == (2, 50, 0.25)
    assert policy.cutoffs(NOW) == {
        "anonymous": NOW - dt.timedelta(days=7),
        "contact": NOW - dt.timedelta(days=60),
        "customer": NOW - dt.timedelta(days=365),
        "empty": NOW - dt.timedelta(days=2),
    }


@pytest.mark.parametrize(
    ("days", "empty_days", "named"),
    [({"anonymous": 0, "contact": 90, "customer": 180}, 1, "anonymous"), (POLICY.days, 0, "empty")],
)
def test_retention_days_below_one_are_refused(days: dict[str, int], empty_days: int, named: str) -> None:
    with pytest.raises(BasketsError, match=f"retention days for {named}: 0 is below 1"):
        RetentionPolicy(days=days, empty_basket_days=empty_days)


def test_each_account_type_expires_after_its_own_days(db: DatabaseUnderTest) -> None:
    day = dt.timedelta(days=1)
    expired = {
        add_basket(db, "anonymous", 30 * day + dt.timedelta(seconds=1)),
        add_basket(db, "contact", 91 * day),
        add_basket(db, "customer", 181 * day),
    }
    kept = {
        add_basket(db, "anonymous", 30 * day - dt.timedelta(seconds=1)),
        add_basket(db, "contact", 89 * day),
        add_basket(db, "customer", 179 * day),
        add_basket(db, "customer", 100 * day),  # older than anonymous/contact retention, not customer's
    }
    with db.engine.connect() as connection:
        selected = select_expired_basket_ids(connection, POLICY, NOW, limit=100)
    assert {basket.basket_id for basket in selected} == expired
    assert remaining_ids(db) == expired | kept


def test_empty_baskets_expire_after_empty_basket_days_whatever_their_type(db: DatabaseUnderTest) -> None:
    old_empty = {kind: add_basket(db, kind, dt.timedelta(days=2), lines=0) for kind in STORED}
    fresh_empty = add_basket(db, "customer", dt.timedelta(hours=12), lines=0)
    full_same_age = add_basket(db, "anonymous", dt.timedelta(days=2), lines=3)
    with db.engine.connect() as connection:
        selected = select_expired_basket_ids(connection, POLICY, NOW, limit=100)
        plan = plan_cleanup(connection, POLICY, NOW)
    assert {basket.basket_id: basket.category for basket in selected} == {
        basket_id: "empty" for basket_id in old_empty.values()
    }
    assert plan.expired == {"anonymous": 0, "contact": 0, "customer": 0, "empty": 3}
    run_all_batches(db)
    assert remaining_ids(db) == {fresh_empty, full_same_age}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    baskets=st.lists(
        st.tuples(
            st.sampled_from(sorted(STORED)),
            st.integers(min_value=0, max_value=200 * 24),  # age in hours
            st.integers(min_value=0, max_value=2),  # lines
        ),
        max_size=12,
    ),
    empty_days=st.integers(min_value=1, max_value=40),
)
def test_selection_matches_the_policy_for_any_mix_of_baskets(
    db: DatabaseUnderTest, baskets: list[tuple[str, int, int]], empty_days: int
) -> None:
    with db.engine.begin() as connection:
        connection.execute(delete(BasketLine))
        connection.execute(delete(Basket))
    policy = RetentionPolicy(days=POLICY.days, empty_basket_days=empty_days, batch_size=5)
    expected: dict[str, str] = {}
    for kind, hours, lines in baskets:
        age = dt.timedelta(hours=hours, minutes=30)
        basket_id = add_basket(db, kind, age, lines)
        by_type = age > dt.timedelta(days=policy.days[kind])
        by_emptiness = lines == 0 and age > dt.timedelta(days=empty_days)
        if by_type or by_emptiness:
            expected[basket_id] = "empty" if lines == 0 else kind
    walked = [basket for batch in walk_expired_batches(db.engine, policy, NOW) for basket in batch]
    assert {basket.basket_id: basket.category for basket in walked} == expected
    assert [basket.basket_id for basket in walked] == sorted(expected)  # key order, each once
    with db.engine.connect() as connection:
        counts = plan_cleanup(connection, policy, NOW).expired
    assert counts == {category: list(expected.values()).count(category) for category in CATEGORIES}


def test_batches_come_in_key_order_and_at_most_batch_size(db: DatabaseUnderTest) -> None:
    seed(db, 200, 3)
    policy = RetentionPolicy(days=POLICY.days, batch_size=17)
    batches = list(walk_expired_batches(db.engine, policy, NOW))
    flat = [basket.basket_id for batch in batches for basket in batch]
    assert all(len(batch) <= 17 for batch in batches)
    assert flat == sorted(flat) and len(flat) == len(set(flat))
    with db.engine.connect() as connection:
        assert len(flat) == plan_cleanup(connection, policy, NOW).total


def test_dry_run_counts_equal_what_a_real_run_deletes(db: DatabaseUnderTest) -> None:
    seed(db, 300, 5)
    with db.engine.connect() as connection:
        plan = plan_cleanup(connection, POLICY, NOW)
    before = remaining_ids(db)
    _, tally = run_all_batches(db, RetentionPolicy(days=POLICY.days, batch_size=40))
    assert {name: counts.deleted for name, counts in tally.categories.items()} == plan.expired
    assert len(before - remaining_ids(db)) == plan.total == tally.total("deleted")
    assert sorted(audited_ids(db)) == sorted(before - remaining_ids(db))


def test_basket_touched_between_select_and_delete_survives_without_audit_row(db: DatabaseUnderTest) -> None:
    old = [add_basket(db, "anonymous", dt.timedelta(days=40)) for _ in range(4)]
    (batch,) = list(walk_expired_batches(db.engine, POLICY, NOW))
    touched = batch[1].basket_id
    with db.engine.begin() as connection:  # the customer comes back after the select
        connection.execute(update(Basket).where(Basket.id == touched).values(modified_at=NOW))
    run_id, _ = start_cleanup_run(db.engine, actor=ACTOR, dry_run=False, as_of=NOW, flow_run_id=None)
    outcome = delete_expired_batch(
        db.engine, batch, policy=POLICY, now=NOW, actor=ACTOR, run_id=run_id, tally=RunTally()
    )
    assert outcome.survived == [touched]
    assert sorted(outcome.deleted) == sorted(set(old) - {touched})
    assert remaining_ids(db) == {touched}
    assert touched not in audited_ids(db)
    with db.engine.connect() as connection:
        record = cleanup_run_record(connection, run_id)
    assert (record["selected"], record["deleted"], record["survived"]) == (4, 3, 1)
    assert record["detail"]["per_category"]["anonymous"]["survived"] == 1


def test_empty_basket_that_gets_a_line_after_selection_survives(db: DatabaseUnderTest) -> None:
    empty = add_basket(db, "customer", dt.timedelta(days=3), lines=0)
    (batch,) = list(walk_expired_batches(db.engine, POLICY, NOW))
    with db.engine.begin() as connection:
        connection.execute(insert(BasketLine).values(basket_id=empty, product_id="ITEM-1", quantity=1))
    run_id, _ = start_cleanup_run(db.engine, actor=ACTOR, dry_run=False, as_of=NOW, flow_run_id=None)
    outcome = delete_expired_batch(
        db.engine, batch, policy=POLICY, now=NOW, actor=ACTOR, run_id=run_id, tally=RunTally()
    )
    assert (outcome.deleted, outcome.survived) == ([], [empty])
    assert audited_ids(db) == []


def test_basket_deleted_by_someone_else_meanwhile_counts_as_gone(db: DatabaseUnderTest) -> None:
    first, second = sorted(add_basket(db, "anonymous", dt.timedelta(days=40)) for _ in range(2))
    (batch,) = list(walk_expired_batches(db.engine, POLICY, NOW))
    with db.engine.begin() as connection:
        connection.execute(delete(Basket).where(Basket.id == first))
    run_id, _ = start_cleanup_run(db.engine, actor=ACTOR, dry_run=False, as_of=NOW, flow_run_id=None)
    outcome = delete_expired_batch(
        db.engine, batch, policy=POLICY, now=NOW, actor=ACTOR, run_id=run_id, tally=RunTally()
    )
    assert (outcome.deleted, outcome.survived, outcome.gone) == ([second], [], [first])
    assert outcome.tally.categories["anonymous"].gone == 1


def test_failed_batch_changes_nothing_and_is_counted_as_skipped(
    db: DatabaseUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = sorted(add_basket(db, "anonymous", dt.timedelta(days=40)) for _ in range(3))
    (batch,) = list(walk_expired_batches(db.engine, POLICY, NOW))
    run_id, _ = start_cleanup_run(db.engine, actor=ACTOR, dry_run=False, as_of=NOW, flow_run_id=None)

    def lock_timeout(*args: object, **kwargs: object) -> None:
        raise OperationalError("DELETE", {}, Exception("lock wait timeout exceeded"))

    monkeypatch.setattr(retention.batches, "delete_baskets_with_audit", lock_timeout)
    with pytest.raises(OperationalError):
        delete_expired_batch(
            db.engine, batch, policy=POLICY, now=NOW, actor=ACTOR, run_id=run_id, tally=RunTally()
        )
    tally = record_skipped_baskets(
        db.engine, batch, run_id=run_id, tally=RunTally(), reason="lock wait timeout"
    )
    assert remaining_ids(db) == set(ids) and audited_ids(db) == []
    assert (tally.batches, tally.failed_batches, tally.total("skipped"), tally.skipped_ids) == (1, 1, 3, ids)
    assert tally.skip_reasons == {"lock wait timeout": 3}
    with db.engine.connect() as connection:
        record = cleanup_run_record(connection, run_id)
    assert (record["skipped"], record["detail"]["skipped_basket_ids"]) == (3, ids)
    assert record["detail"]["skip_reasons"] == {"lock wait timeout": 3}


def test_safety_share_stops_the_run_unless_forced(db: DatabaseUnderTest) -> None:
    for _ in range(3):
        add_basket(db, "anonymous", dt.timedelta(days=40))
    add_basket(db, "anonymous", dt.timedelta(days=1))
    with db.engine.connect() as connection:
        plan = plan_cleanup(connection, RetentionPolicy(days=POLICY.days, max_share=0.5), NOW)
    assert (plan.total, plan.all_baskets, plan.share, plan.over_limit) == (3, 4, 0.75, True)
    with pytest.raises(
        SafetyLimitHit, match=r"would delete 3 of 4 baskets \(75.0%\), more than the limit of 50%"
    ) as hit:
        check_safety_share(plan, forced=False)
    assert hit.value.exit_code == 5
    check_safety_share(plan, forced=True)
    with db.engine.connect() as connection:
        at_limit = plan_cleanup(connection, RetentionPolicy(days=POLICY.days, max_share=0.75), NOW)
    check_safety_share(at_limit, forced=False)  # exactly the share is allowed


def test_run_record_goes_from_running_to_succeeded_with_counts(db: DatabaseUnderTest) -> None:
    for _ in range(5):
        add_basket(db, "contact", dt.timedelta(days=100))
    with db.engine.connect() as connection:
        plan = plan_cleanup(connection, POLICY, NOW)
    run_id, tally = run_all_batches(db, RetentionPolicy(days=POLICY.days, batch_size=2))
    with db.engine.connect() as connection:
        assert cleanup_run_record(connection, run_id)["status"] == "running"
    finish_cleanup_run(db.engine, run_id, tally, succeeded=True, plan=plan)
    with db.engine.connect() as connection:
        record = cleanup_run_record(connection, run_id)
    assert record["status"] == "succeeded" and record["finished_at"] is not None
    assert (record["actor"], record["dry_run"], record["as_of"]) == (RETENTION_ACTOR, False, NOW)
    assert (record["selected"], record["deleted"], record["survived"], record["skipped"]) == (5, 5, 0, 0)
    assert record["detail"]["batches"] == 3
    assert record["detail"]["per_category"]["contact"]["deleted"] == 5
    assert record["detail"]["expired_at_start"]["contact"] == 5


def test_a_run_left_running_by_a_dead_process_is_closed_as_failed_by_the_next(db: DatabaseUnderTest) -> None:
    dead, _ = start_cleanup_run(db.engine, actor=ACTOR, dry_run=False, as_of=NOW, flow_run_id=None)
    with db.engine.begin() as connection:
        connection.execute(
            update(CleanupRun)
            .where(CleanupRun.id == dead)
            .values(detail=json.dumps({"first_seq": 4, "last_seq": 9}))
        )
    alive, abandoned = start_cleanup_run(db.engine, actor=ACTOR, dry_run=False, as_of=NOW, flow_run_id=None)
    assert [(run.run_id, run.first_seq, run.last_seq) for run in abandoned] == [(dead, 4, 9)]
    with db.engine.connect() as connection:
        record = cleanup_run_record(connection, dead)
        statuses = dict(connection.execute(select(CleanupRun.id, CleanupRun.status)).all())
    assert record["status"] == "failed" and "abandoned" in record["detail"]["error"]
    assert statuses == {dead: "failed", alive: "running"}


def test_every_ended_run_that_deleted_without_a_snapshot_is_listed_until_its_snapshot_is_recorded(
    db: DatabaseUnderTest,
) -> None:
    def killed_after_deleting(first_seq: int, last_seq: int) -> int:
        run_id, _ = start_cleanup_run(db.engine, actor=ACTOR, dry_run=False, as_of=NOW, flow_run_id=None)
        with db.engine.begin() as connection:
            detail = json.dumps({"first_seq": first_seq, "last_seq": last_seq})
            connection.execute(update(CleanupRun).where(CleanupRun.id == run_id).values(detail=detail))
        return run_id

    first = killed_after_deleting(1, 4)
    second = killed_after_deleting(5, 9)  # its start closed the first as abandoned
    dry, _ = start_cleanup_run(db.engine, actor=ACTOR, dry_run=True, as_of=NOW, flow_run_id=None)
    current, abandoned = start_cleanup_run(db.engine, actor=ACTOR, dry_run=False, as_of=NOW, flow_run_id=None)
    assert [run.run_id for run in abandoned] == [dry]  # only the last one was still running
    missing = runs_missing_snapshot(db.engine)
    assert [(run.run_id, run.first_seq, run.last_seq) for run in missing] == [(first, 1, 4), (second, 5, 9)]
    record_snapshot(db.engine, first, Path("/srv/exports/retention/first.parquet"))
    assert [run.run_id for run in runs_missing_snapshot(db.engine)] == [second]
    with db.engine.connect() as connection:
        record = cleanup_run_record(connection, first)
    assert record["detail"]["snapshot"] == "/srv/exports/retention/first.parquet"
    assert record["detail"]["first_seq"] == 1 and "abandoned" in record["detail"]["error"]
    assert current not in {run.run_id for run in runs_missing_snapshot(db.engine)}


def test_snapshot_holds_exactly_the_baskets_the_run_deleted(db: DatabaseUnderTest, tmp_path: Path) -> None:
    seed(db, 120, 9)
    add_basket(db, "customer", dt.timedelta(days=200), lines=2)
    before = remaining_ids(db)
    _, tally = run_all_batches(db, RetentionPolicy(days=POLICY.days, batch_size=25))
    path = tmp_path / "out" / "snapshot.parquet"
    rows = write_parquet_snapshot(db.engine, tally.first_seq, tally.last_seq, path)
    table = pq.read_table(path)
    assert rows == table.num_rows == tally.total("deleted")
    assert sorted(table.column("basket_id").to_pylist()) == sorted(before - remaining_ids(db))
    assert set(table.column("reason").to_pylist()) == {"retention"}
    assert set(table.column("actor").to_pylist()) == {RETENTION_ACTOR}
    assert str(table.schema.field("basket_modified_at").type) == "timestamp[us, tz=UTC]"
    assert str(table.schema.field("total_quantity").type) == "decimal128(18, 4)"
    with db.engine.connect() as connection:
        audited_lines = connection.scalar(
            select(func.sum(BasketAudit.line_count)).where(
                BasketAudit.seq.between(tally.first_seq, tally.last_seq)
            )
        )
    assert sum(table.column("line_count").to_pylist()) == audited_lines
    assert [p.name for p in path.parent.iterdir()] == ["snapshot.parquet"]  # no temporary left


def test_snapshot_is_private_marked_as_the_suites_and_never_replaces_a_foreign_file(
    db: DatabaseUnderTest, tmp_path: Path
) -> None:
    path = tmp_path / "snapshot.parquet"
    write_parquet_snapshot(db.engine, None, None, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert pq.read_schema(path).metadata[b"basket-maintenance"] == b"retention-snapshot"
    assert write_parquet_snapshot(db.engine, None, None, path) == 0  # its own snapshot: replaced
    foreign = tmp_path / "foreign.parquet"
    pq.write_table(pa.table({"x": [1]}), foreign)
    with pytest.raises(BadInput, match=r"^setting export_dir: .* not replaced, even with `overwrite`"):
        write_parquet_snapshot(db.engine, None, None, foreign)
    assert pq.read_table(foreign).column_names == ["x"]


def _audit_rows_as_snapshot_rows(db: DatabaseUnderTest) -> list[dict[str, object]]:
    """Every audit row, in order, as the snapshot should hold it."""
    with db.engine.connect() as connection:
        audit = connection.execute(select(BasketAudit).order_by(BasketAudit.seq)).mappings().all()
    return [
        {**{name: row[name] for name in snapshot_schema().names if name != "deleted_at"},
         "deleted_at": row["occurred_at"], "total_quantity": Decimal(canonical_quantity(row["total_quantity"]))}
        for row in audit
    ]  # fmt: skip


def test_snapshot_rows_equal_the_audit_rows_value_for_value(db: DatabaseUnderTest, tmp_path: Path) -> None:
    seed(db, 60, 4)
    _, tally = run_all_batches(db, RetentionPolicy(days=POLICY.days, batch_size=25))
    path = tmp_path / "snapshot.parquet"
    write_parquet_snapshot(db.engine, tally.first_seq, tally.last_seq, path)
    expected = _audit_rows_as_snapshot_rows(db)
    assert expected  # the seed has expired baskets
    assert pq.read_table(path).to_pylist() == expected


def test_snapshot_rows_equal_the_audit_rows_across_the_readers_batches(
    db: DatabaseUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Batches of 3 rows: some with no shop account at all (names and e-mails NULL throughout
    # the batch), whole totals (SQLite keeps 5.0 as the integer 5) beside fractional ones.
    monkeypatch.setattr(transports, "BATCH_ROWS", 3)
    seed(db, 12, 4)
    for lines in (1, 2, 2, 1, 2, 2, 3):
        add_basket(db, "anonymous", dt.timedelta(days=400), lines=lines)
    _, tally = run_all_batches(db, RetentionPolicy(days=POLICY.days, batch_size=4))
    path = tmp_path / "snapshot.parquet"
    rows = write_parquet_snapshot(db.engine, tally.first_seq, tally.last_seq, path)
    expected = _audit_rows_as_snapshot_rows(db)
    assert rows == len(expected) == tally.total("deleted") >= 7
    assert {row["total_quantity"] for row in expected} >= {Decimal("2.5"), Decimal("5"), Decimal("7.5")}
    assert pq.read_table(path).to_pylist() == expected


def test_snapshot_dictionary_encodes_the_columns_whose_values_repeat(
    db: DatabaseUnderTest, tmp_path: Path
) -> None:
    seed(db, 60, 4)
    _, tally = run_all_batches(db, RetentionPolicy(days=POLICY.days, batch_size=25))
    path = tmp_path / "snapshot.parquet"
    write_parquet_snapshot(db.engine, tally.first_seq, tally.last_seq, path)
    group = pq.ParquetFile(path).metadata.row_group(0)
    encodings = {group.column(i).path_in_schema: group.column(i).encodings for i in range(group.num_columns)}
    assert "RLE_DICTIONARY" in encodings["actor"] and "RLE_DICTIONARY" in encodings["deleted_at"]
    assert "RLE_DICTIONARY" not in encodings["hash"] and "RLE_DICTIONARY" not in encodings["lines"]


def test_snapshot_of_a_run_that_deleted_nothing_is_empty(db: DatabaseUnderTest, tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    assert write_parquet_snapshot(db.engine, None, None, path) == 0
    assert pq.read_table(path).num_rows == 0


def test_a_policy_builds_its_expiry_condition_once_per_time() -> None:
    policy = RetentionPolicy(days=POLICY.days)
    condition = policy.expired(NOW)
    assert policy.expired(NOW) is condition  # every batch of a run re-checks this very object
    assert policy.expired(NOW + dt.timedelta(seconds=1)) is not condition
    assert policy == RetentionPolicy(days=POLICY.days)  # what it keeps is not part of the policy
    assert "expired" not in repr(policy)
    for day in range(10):  # asked about many times, it keeps only the latest few
        policy.expired(NOW + dt.timedelta(days=day))
    assert 1 <= len(policy._expired) <= retention.policy._EXPIRED_KEPT
    assert "expired" not in repr(policy)


def test_selected_ahead_fetches_the_next_batch_while_the_current_one_is_worked_on() -> None:
    second_asked_for = threading.Event()

    def batches() -> Iterator[list[int]]:
        yield [1, 2]
        second_asked_for.set()
        yield [3]

    received = []
    for batch in selected_ahead(batches()):
        if not received:  # still on the first batch: the second is being fetched meanwhile
            assert second_asked_for.wait(timeout=10)
        received.append(batch)
    assert received == [[1, 2], [3]]


def test_selected_ahead_raises_a_failed_selection_in_the_callers_thread_at_its_place() -> None:
    def batches() -> Iterator[list[int]]:
        yield [1]
        raise RuntimeError("selection failed")

    received = []
    with pytest.raises(RuntimeError, match="selection failed"):
        for batch in selected_ahead(batches()):
            received.append(batch)
    assert received == [[1]]


def test_walk_selected_ahead_deletes_exactly_what_a_plain_walk_does(db: DatabaseUnderTest) -> None:
    seed(db, 200, 11)
    policy = RetentionPolicy(days=POLICY.days, batch_size=13)
    with db.engine.connect() as connection:
        plan = plan_cleanup(connection, policy, NOW)
    run_id, _ = start_cleanup_run(db.engine, actor=ACTOR, dry_run=False, as_of=NOW, flow_run_id=None)
    tally, deleted = RunTally(), []
    for batch in selected_ahead(walk_expired_batches(db.engine, policy, NOW)):
        outcome = delete_expired_batch(
            db.engine, batch, policy=policy, now=NOW, actor=ACTOR, run_id=run_id, tally=tally
        )
        tally, deleted = outcome.tally, deleted + outcome.deleted
    assert deleted == sorted(deleted) and len(deleted) == plan.total == tally.total("deleted")
    assert sorted(audited_ids(db)) == deleted
    with db.engine.connect() as connection:
        assert plan_cleanup(connection, policy, NOW).total == 0


def test_step_times_add_up_each_step_and_keep_one_that_raised() -> None:
    took = retention.StepTimes()
    with took("planning"):
        time.sleep(0.02)
    for _ in range(2):
        with took("deleting"):
            time.sleep(0.03)
    with pytest.raises(RuntimeError), took("snapshot"):
        time.sleep(0.01)
        raise RuntimeError("the snapshot failed")
    assert list(took.seconds) == ["planning", "deleting", "snapshot"]
    assert 0.02 <= took.seconds["planning"] < took.seconds["deleting"]
    assert took.seconds["deleting"] >= 0.06  # both runs of the step
    assert took.seconds["snapshot"] >= 0.01
    assert all(value == round(value, 3) for value in took.seconds.values())


def test_a_dead_runs_counts_come_from_its_last_batch(db: DatabaseUnderTest) -> None:
    for _ in range(4):
        add_basket(db, "contact", dt.timedelta(days=100))
    dead, tally = run_all_batches(db, RetentionPolicy(days=POLICY.days, batch_size=3))
    alive, abandoned = start_cleanup_run(db.engine, actor=ACTOR, dry_run=False, as_of=NOW, flow_run_id=None)
    assert [(run.run_id, run.first_seq, run.last_seq) for run in abandoned] == [(dead, 1, 4)]
    with db.engine.connect() as connection:
        record = cleanup_run_record(connection, dead)
    assert (record["status"], record["deleted"], record["detail"]["batches"]) == ("failed", 4, 2)
    assert "abandoned" in record["detail"]["error"]


def test_a_batch_that_committed_after_the_flow_stopped_counting_is_in_the_final_record(
    db: DatabaseUnderTest,
) -> None:
    """A run failing between batches may close with an older tally than its last batch's (the
    one it had before the loop): the counts its batches stored in its row stay."""
    for _ in range(5):
        add_basket(db, "contact", dt.timedelta(days=100))
    run_id, tally = run_all_batches(db, RetentionPolicy(days=POLICY.days, batch_size=2))
    assert tally.batches == 3
    finish_cleanup_run(db.engine, run_id, RunTally(), succeeded=False, error="selection failed", exit_code=1)
    with db.engine.connect() as connection:
        record = cleanup_run_record(connection, run_id)
    assert (record["status"], record["deleted"]) == ("failed", 5)
    assert (record["detail"]["batches"], record["detail"]["last_seq"], record["detail"]["error"]) == (
        3,
        5,
        "selection failed",
    )
