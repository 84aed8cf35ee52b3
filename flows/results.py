"""What the on-demand flows return: typed results that the command line prints as text and, with
`--json`, as `model_dump(mode="json")`, and that a Prefect run keeps as its result."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, PlainSerializer

# Times as ISO 8601 with their offset (2026-10-08T00:00:00+00:00), as every JSON output writes them.
IsoTime = Annotated[dt.datetime, PlainSerializer(lambda value: value.isoformat(), when_used="json")]


class DeleteResult(BaseModel):
    """basket-delete: what was deleted, kept and audited."""

    deleted: int
    survived: int  # changed since selection so that they no longer match: kept
    gone: int  # deleted by someone else meanwhile
    basket_ids: list[str]  # at most RESULT_ID_LIMIT; the audit log has them all
    basket_ids_truncated: bool
    first_seq: int | None
    last_seq: int | None
    actor: str
    reason: str
    filter: dict[str, str]  # flag -> value
    flow_run_id: str | None
    tracked: bool = False  # whether a Prefect flow run tracked it (set by flows.runner.run_flow)


class RestoreResult(BaseModel):
    """basket-restore: the basket put back and the audit row recording it."""

    restored: int = 1
    basket_id: str
    line_count: int
    restored_from_seq: int
    seq: int
    actor: str
    flow_run_id: str | None
    tracked: bool = False


class ExportedFile(BaseModel):
    format: str
    path: str
    sha256: str
    bytes: int


class ExportResult(BaseModel):
    """report-export: the files written and what is in them."""

    baskets: int
    lines: int
    rows: int
    files: list[ExportedFile]
    filter: dict[str, str]
    operator: str
    transport: str
    seconds: float
    flow_run_id: str | None
    tracked: bool = False


class AuditReportResult(BaseModel):
    """audit-report: the window's figures, the chain's status and the report written."""

    since: IsoTime
    until: IsoTime
    deleted: int
    lines: int
    restored: int
    # Erasures on request in the window, and its audit rows redacted since: counts only.
    erasures: int = 0
    redacted: int = 0
    per_account_type: dict[str, int]
    per_reason: dict[str, int]
    per_actor: dict[str, int]
    chain: str
    chain_detail: str | None
    format: str
    path: str
    operator: str
    flow_run_id: str | None
    tracked: bool = False
