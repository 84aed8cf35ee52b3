"""An expected failure as the command line says it: each input named by its flag or argument.

Domain errors name the inputs by field, as the run forms show them (`note: too long`, "use
`overwrite` to replace it"; baskets/errors.py). The command line puts the flag in place of the
field: in the message's leading `field: ` and in every backticked field it mentions.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from baskets.errors import BasketsError
from baskets.filters import FLAGS as FILTER_FLAGS

# The flag (or argument) a person types for each field; a field not named here is `--field-name`.
FLAGS: dict[str, str] = {
    **FILTER_FLAGS,
    "operator": "--as",
    "basket_ids": "BASKET_ID",
    "report_format": "--format",
    "delete_all": "--all",
    "name": "NAME",
    "new_role": "ROLE",
}
# Fields named by flag as they are (`note` is --note), besides those above.
_PLAIN_FIELDS = {
    "note", "reason", "output", "overwrite", "force", "now", "since", "until", "format", "dry_run",
    "replace", "baskets", "database_url", "role", "head", "limit", "email", "reference", "pool",
}  # fmt: skip
_BACKTICKED = re.compile(r"`([a-z][a-z_]*)`")


def flag_for(field: str) -> str:
    """The command line's name of `field`: `--as` for operator, `--dry-run` for dry_run."""
    return FLAGS.get(field) or "--" + field.replace("_", "-")


def command_line_message(error: BasketsError) -> str:
    """`error`'s one line for the terminal: `--note: too long` for the domain's `note: too long`."""
    flags = {**FLAGS, **getattr(error, _COMMAND_FLAGS, {})}

    def flag(field: str) -> str:
        return flags.get(field) or "--" + field.replace("_", "-")

    message = error.message
    if error.field and message.startswith(f"{error.field}: "):
        message = f"{flag(error.field)}: {message.removeprefix(f'{error.field}: ')}"
    return _BACKTICKED.sub(
        lambda found: flag(found.group(1)) if _is_field(found.group(1)) else found.group(0), message
    )


def _is_field(name: str) -> bool:
    return name in FLAGS or name in _PLAIN_FIELDS


_COMMAND_FLAGS = "command_flags"


@contextlib.contextmanager
def fields_named(**flags: str) -> Iterator[None]:
    """Inside, a failure names these fields by these flags or arguments, for a command whose
    input differs from the usual one (restore's argument BASKET_ID, not the --basket-id filter)."""
    try:
        yield
    except BasketsError as error:
        setattr(error, _COMMAND_FLAGS, {**flags, **getattr(error, _COMMAND_FLAGS, {})})
        raise
