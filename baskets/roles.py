"""Who may do what (§7): Sana-style roles, the operators table, and the check every command makes."""

from __future__ import annotations

import datetime as dt
import enum
import unicodedata
from dataclasses import dataclass

from sqlalchemy import Connection, func, insert, select

from baskets.errors import BadInput, NotPermitted
from baskets.models import Operator

SYSTEM_ADMINISTRATOR = "system_administrator"
ORDER_PROCESSOR = "order_processor"
# The built-in actor of scheduled cleanups; it is not a row in `operators` and cannot log in.
RETENTION_ACTOR = "retention-policy"
RETENTION_ROLE = "system"


class Action(enum.StrEnum):
    LIST = "list baskets"
    EXPORT = "export baskets"
    DELETE = "delete baskets"
    VIEW_SHOP_ACCOUNT = "view shop accounts"
    CLEANUP = "run cleanup"
    FORCE = "force a cleanup past its safety limit"
    RESTORE = "restore baskets"
    MANAGE_OPERATORS = "manage operators"
    REPLACE_DATA = "replace the baskets with demo data (seed --replace)"
    AUDIT = "read the audit log"


_BOTH = frozenset({SYSTEM_ADMINISTRATOR, ORDER_PROCESSOR})
_ADMIN = frozenset({SYSTEM_ADMINISTRATOR})
PERMISSIONS: dict[Action, frozenset[str]] = {
    Action.LIST: _BOTH,
    Action.EXPORT: _BOTH,
    Action.DELETE: _BOTH,
    Action.VIEW_SHOP_ACCOUNT: _ADMIN,
    Action.CLEANUP: _ADMIN,
    Action.FORCE: _ADMIN,
    Action.RESTORE: _ADMIN,
    Action.MANAGE_OPERATORS: _ADMIN,
    Action.REPLACE_DATA: _ADMIN,
    Action.AUDIT: _BOTH,
}


@dataclass(frozen=True)
class Actor:
    """The operator a command runs as; named in every audit row it writes."""

    name: str
    role: str


def is_permitted(role: str, action: Action) -> bool:
    return role in PERMISSIONS[action]


def authorize(connection: Connection, name: str | None, action: Action) -> Actor:
    """Look `name` up and check its role may do `action`.

    Raises NotPermitted (exit 3) with one line when no name is given, the name is unknown,
    or the role lacks the right. Call it before reading or changing anything else.
    """
    if not name:
        raise NotPermitted(f"{action.value} needs an operator: pass --as NAME or set BASKETS_OPERATOR")
    # No operator's name holds a control character (and PostgreSQL refuses a NUL in a query).
    role = (
        None
        if _has_control_character(name)
        else connection.scalar(select(Operator.role).where(Operator.name == name))
    )
    if role is None:
        raise NotPermitted(
            f"--as: no operator named {name!r} (an administrator adds one with "
            "`baskets operators add NAME --role ROLE`)"
        )
    if not is_permitted(role, action):
        allowed = " or ".join(sorted(PERMISSIONS[action]))
        raise NotPermitted(f"{name!r} is a {role}: only {allowed} may {action.value}")
    return Actor(name=name, role=role)


def _has_control_character(text: str) -> bool:
    return any(unicodedata.category(character) == "Cc" for character in text)


def validate_operator_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > 100 or cleaned == RETENTION_ACTOR or _has_control_character(cleaned):
        raise BadInput(
            f"operator name {name!r} is not usable (expected 1-100 characters without control "
            "characters, e.g. alice, "
            f"and not the built-in {RETENTION_ACTOR!r})"
        )
    return cleaned


def validate_role(role: str) -> str:
    cleaned = role.strip().lower().replace("-", "_").replace(" ", "_")
    if not cleaned.replace("_", "").isalnum() or len(cleaned) > 50:
        raise BadInput(
            f"--role: {role!r} is not a role name (expected e.g. {SYSTEM_ADMINISTRATOR}, "
            f"{ORDER_PROCESSOR} or content_manager)"
        )
    return cleaned


def add_operator(connection: Connection, name: str, role: str, by: str | None) -> Actor:
    """Add an operator. The first one of an empty database needs no `by`; later ones need an
    administrator. Raises BadInput for a bad or taken name, NotPermitted for the wrong actor.
    """
    name, role = validate_operator_name(name), validate_role(role)
    if connection.scalar(select(func.count()).select_from(Operator)):
        authorize(connection, by, Action.MANAGE_OPERATORS)
    if connection.scalar(select(Operator.name).where(Operator.name == name)) is not None:
        raise BadInput(f"operator {name!r} exists already (pick another name)")
    connection.execute(insert(Operator).values(name=name, role=role, created_at=dt.datetime.now(dt.UTC)))
    return Actor(name=name, role=role)


def list_operators(connection: Connection) -> list[dict[str, object]]:
    rows = connection.execute(
        select(Operator.name, Operator.role, Operator.created_at).order_by(Operator.name)
    )
    return [dict(row._mapping) for row in rows]
