"""Who may do what (§7): Sana-style roles, the operators table, and the check every command makes."""

from __future__ import annotations

import datetime as dt
import enum
import logging
import unicodedata
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, insert, select, update

from baskets.errors import BadInput, NotFound, NotPermitted
from baskets.filters import check_typable
from baskets.models import Operator
from baskets.wording import with_article

log = logging.getLogger("baskets.roles")

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
    ERASE = "erase a person's data (baskets forget)"


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
    Action.ERASE: _ADMIN,
}


@dataclass(frozen=True)
class Actor:
    """The operator a command runs as; named in every audit row it writes."""

    name: str
    role: str


def check_operator_spelling(name: str) -> None:
    """BadInput (exit 2) for an `operator` value no operator can have: control or invisible
    characters, undecodable bytes, or longer than the column. Anything else is looked up as
    typed, exactly, on every database."""
    try:
        check_typable(name)
    except ValueError as error:
        raise BadInput(f"operator: {error}", field="operator") from None
    if len(name) > OPERATOR_NAME_MAX:
        raise BadInput(
            f"operator: {len(name)} characters is too long for an operator name "
            f"(at most {OPERATOR_NAME_MAX})",
            field="operator",
        )


def is_permitted(role: str, action: Action) -> bool:
    return role in PERMISSIONS[action]


def authorize(connection: Connection, name: str | None, action: Action) -> Actor:
    """Look `name` up and check its role may do `action`.

    Raises NotPermitted (exit 3) with one line when no name is given, the name is unknown,
    or the role lacks the right. Call it before reading or changing anything else.
    """
    if not name:
        raise NotPermitted(
            f"operator: {action.value} needs an operator (type your operator name)",
            field="operator",
        )
    check_operator_spelling(name)
    role = connection.scalar(select(Operator.role).where(Operator.name == name))
    if role is None:
        raise NotPermitted(
            f"operator: no operator named {name!r} (an administrator adds one with "
            "`baskets operators add NAME --role ROLE`)",
            field="operator",
        )
    if not is_permitted(role, action):
        allowed = " or ".join(sorted(PERMISSIONS[action]))
        raise NotPermitted(
            f"operator: {name!r} is {with_article(role)}: only {allowed} may {action.value}", field="operator"
        )
    return Actor(name=name, role=role)


def authorize_cleanup(connection: Connection, name: str | None, force: bool) -> Actor:
    """The actor of a retention cleanup: without `name`, as the schedule runs it, the built-in
    retention-policy; with one, a system administrator. NotPermitted (exit 3) for a wrong
    operator, or for `force` by anyone but a system administrator."""
    if not name:  # scheduled (a blank run-form field counts as none)
        if force:
            raise NotPermitted(
                "force: only a system administrator may force a cleanup (type one as `operator`)",
                field="force",
            )
        return Actor(name=RETENTION_ACTOR, role=RETENTION_ROLE)
    actor = authorize(connection, name, Action.CLEANUP)
    if force:
        authorize(connection, name, Action.FORCE)
    return actor


# The role names of Sana Admin (Tools > User management) this suite knows; only the first two
# have rights here (PERMISSIONS), the others are kept so a shop's own list fits in as it is.
KNOWN_ROLES = (
    SYSTEM_ADMINISTRATOR,
    ORDER_PROCESSOR,
    "content_manager",
    "product_content_manager",
    "marketer",
    "mobile_manager",
    "shop_account_creator",
)
OPERATOR_NAME_MAX = 100
# Letters and digits of any script, and these between them; a name is an identifier people type.
_NAME_PUNCTUATION = frozenset(".-_@")
# Letters that look like a Latin letter in most fonts (Cyrillic and Greek), and digits that look
# like letters, mapped to that letter in the same case. A small explicit table rather than
# Unicode's whole confusables list (a new dependency): names are short identifiers, and these
# are the lookalikes of the Latin alphabet a person could type, paste or be sent.
_LOOKALIKES = str.maketrans(
    "аеорсухіјѕԁһԛԝӏαοριυνκχεϲ01" "АВЕКМНОРСТХУІЈЅΑΒΕΖΗΙΚΜΝΟΡΤΥΧϹ",
    "aeopcyxijsdhqwlaopiuvkxecol" "ABEKMHOPCTXYIJSABEZHIKMNOPTYXC",
)  # fmt: skip


def names_look_alike(first: str, second: str) -> bool:
    """Whether two names could be mistaken for each other: the same but for case, accents or
    lookalike letters (`alice`, `ALICE`, `Àlice`, `аlice` with a Cyrillic а, `aIice`)."""
    return bool(set(_skeletons(first)) & set(_skeletons(second)))


def _skeletons(name: str) -> tuple[str, str]:
    """`name` without accents and with lookalikes replaced, once case-folded, once as seen
    (where capital I passes for l, which case-folding would turn into i)."""
    decomposed = unicodedata.normalize("NFKD", name)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    folded = bare.casefold().translate(_LOOKALIKES).replace("rn", "m")
    seen = bare.translate(_LOOKALIKES).replace("I", "l").replace("rn", "m")
    return "folded:" + folded, "seen:" + seen


def validate_operator_name(name: str) -> str:
    """`name` as a new operator's name; BadInput unless it is 1-100 letters, digits and
    `. - _ @`, with single inner spaces at most, and not the built-in actor."""
    example = "(expected letters, digits and . - _ @ with single inner spaces, e.g. alice or j.smith)"
    if not name:
        raise BadInput(f"name: is empty {example}", field="name")
    if len(name) > OPERATOR_NAME_MAX:
        raise BadInput(
            f"name: {len(name)} characters is too long (at most {OPERATOR_NAME_MAX})", field="name"
        )
    for position, character in enumerate(name, start=1):
        inner_space = character == " " and 1 < position < len(name) and name[position] != " "
        usable = (
            unicodedata.category(character)[0] in "LN"
            or (unicodedata.category(character).startswith("M") and position > 1)
            or character in _NAME_PUNCTUATION
            or inner_space
        )
        if not usable:
            raise BadInput(
                f"name: character {position} of {name!r} (U+{ord(character):04X}) is not allowed {example}",
                field="name",
            )
    if names_look_alike(name, RETENTION_ACTOR):
        raise BadInput(
            f"name: {name!r} is the built-in actor {RETENTION_ACTOR!r} (pick another name)", field="name"
        )
    return name


def validate_role(role: str, field: str = "role") -> str:
    """`role` as a known role name (any case, `-` or space for `_`); BadInput, naming `field`
    (`role`, or `new_role` for a change of role) and listing the roles, for any other."""
    cleaned = role.strip().lower().replace("-", "_").replace(" ", "_")
    if cleaned not in KNOWN_ROLES:
        raise BadInput(
            f"{field}: {role!r} is not a known role (expected one of {', '.join(KNOWN_ROLES)})", field=field
        )
    return cleaned


def add_operator(connection: Connection, name: str, role: str, by: str | None) -> Actor:
    """Add an operator. The first one of an empty database needs no `by`; later ones need an
    administrator. Raises BadInput for a bad or taken name, NotPermitted for the wrong actor.
    """
    name, role = validate_operator_name(name), validate_role(role)
    existing = list(connection.scalars(select(Operator.name)))
    if existing:
        authorize(connection, by, Action.MANAGE_OPERATORS)
    # Operators are few: comparing every skeleton in Python is simpler than any SQL for it.
    taken = next((other for other in existing if names_look_alike(other, name)), None)
    if taken == name:
        raise BadInput(f"name: operator {name!r} exists already (pick another name)", field="name")
    if taken is not None:
        raise BadInput(
            f"name: {name!r} looks like the existing operator {taken!r} (differs only by case, "
            "accents or lookalike letters; pick another name)",
            field="name",
        )
    connection.execute(insert(Operator).values(name=name, role=role, created_at=dt.datetime.now(dt.UTC)))
    return Actor(name=name, role=role)


def list_operators(connection: Connection) -> list[dict[str, object]]:
    """Every operator with role and creation time, by name; callers authorize first."""
    rows = connection.execute(
        select(Operator.name, Operator.role, Operator.created_at).order_by(Operator.name)
    )
    return [dict(row._mapping) for row in rows]


def remove_operator(connection: Connection, name: str, by: str | None) -> Actor:
    """Remove operator `name` as `by`, a system administrator; return who was removed (and
    their role). BadInput for a malformed name or the last system administrator, NotPermitted
    for the wrong actor, NotFound for an unknown name. Audit rows that name the operator keep
    the name: they hold it as text, not as a reference to this table."""
    target = _changeable_operator(connection, name, by)
    if target.role == SYSTEM_ADMINISTRATOR:
        _keep_a_system_administrator(connection, target.name, "removed")
    connection.execute(delete(Operator).where(Operator.name == target.name))
    log.info("operator %r (%s) removed by %r", target.name, target.role, by)
    return target


def set_operator_role(connection: Connection, name: str, role: str, by: str | None) -> tuple[str, Actor]:
    """Give operator `name` the role `role`, as `by`, a system administrator; return the role
    before and the operator now. Errors as for `remove_operator`, and BadInput (listing the
    roles) for an unknown role."""
    role = validate_role(role, "new_role")
    target = _changeable_operator(connection, name, by)
    if target.role == SYSTEM_ADMINISTRATOR and role != SYSTEM_ADMINISTRATOR:
        _keep_a_system_administrator(connection, target.name, "demoted")
    connection.execute(update(Operator).where(Operator.name == target.name).values(role=role))
    log.info("operator %r changed from %s to %s by %r", target.name, target.role, role, by)
    return target.role, Actor(name=target.name, role=role)


def _changeable_operator(connection: Connection, name: str, by: str | None) -> Actor:
    """Operator `name`, locked for the caller's transaction once `by` proved a system
    administrator, with the rows of every system administrator locked before it.

    Locking every administrator first, in name order, makes two administrators who demote or
    remove each other at the same time wait for one another instead of both succeeding (which
    would leave none) or deadlocking; on SQLite the caller's BEGIN IMMEDIATE does the same.
    """
    try:
        check_typable(name)
    except ValueError as error:
        raise BadInput(f"name: {error}", field="name") from None
    if not name or len(name) > OPERATOR_NAME_MAX:
        raise BadInput(
            f"name: expected an operator's name of 1 to {OPERATOR_NAME_MAX} characters, e.g. alice",
            field="name",
        )
    authorize(connection, by, Action.MANAGE_OPERATORS)
    connection.execute(
        select(Operator.name)
        .where(Operator.role == SYSTEM_ADMINISTRATOR)
        .order_by(Operator.name)
        .with_for_update()
    ).all()
    role = connection.scalar(select(Operator.role).where(Operator.name == name).with_for_update())
    if role is None:
        raise NotFound(
            f"name: no operator named {name!r} (`baskets operators list` shows them)", field="name"
        )
    return Actor(name=name, role=role)


def _keep_a_system_administrator(connection: Connection, name: str, change: str) -> None:
    """BadInput unless some system administrator other than `name` remains."""
    others = connection.scalar(
        select(func.count())
        .select_from(Operator)
        .where(Operator.role == SYSTEM_ADMINISTRATOR, Operator.name != name)
    )
    if not others:
        raise BadInput(
            f"name: {name!r} is the last {SYSTEM_ADMINISTRATOR} and cannot be {change} "
            f"(add another first: `baskets operators add NAME --role {SYSTEM_ADMINISTRATOR}`)",
            field="name",
        )
