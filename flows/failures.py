"""How every flow ends on an expected failure: Failed, with one line for the person at the run form."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from prefect.states import Failed

from baskets.errors import BasketsError
from baskets.filters import FLAGS as FILTER_FLAGS

# The command line's flag (or argument) of each flow parameter, as a message begins with it.
FLAGS = {
    **FILTER_FLAGS,
    "operator": "--as",
    "basket_ids": "BASKET_ID",
    "basket_id": "BASKET_ID",
    "note": "--note",
    "reason": "--reason",
    "force": "--force",
    "format": "--format",
    "report_format": "--format",
    "output": "--output",
    "since": "--since",
    "until": "--until",
    "now": "--now",
}

P = ParamSpec("P")
R = TypeVar("R")


def form_message(error: BasketsError) -> str:
    """`error` in one line for a run form: it names the form field, not the command-line flag.

    `error.form_message` when the error has one; else its message with its leading `FLAG: `
    replaced by `field: `; else its message as it is (it names no input).
    """
    if error.form_message:
        return error.form_message
    if error.field is None:
        return error.message
    flag = FLAGS.get(error.field)
    text = error.message.removeprefix(f"{flag}: ") if flag else error.message
    return f"{error.field}: {text}"


def fails_the_run_on_refusal(body: Callable[P, R]) -> Callable[P, R]:
    """Wrap a flow function (under `@flow`) so that a BasketsError ends the run Failed with
    `form_message(error)`, not by raising.

    A raise would log Prefect's traceback into the run's log and word the state "Flow run
    encountered an exception: NotPermitted: ..."; the run form's user gets one line instead.
    A caller in Python (the command line) still gets the error raised back from the Failed
    state, with its command-line message.
    """

    @functools.wraps(body)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return body(*args, **kwargs)
        except BasketsError as error:
            return Failed(message=form_message(error), data=error)  # type: ignore[return-value]

    # The parameters' types resolved in `body`'s module: Prefect validates a run's parameters
    # in the namespace of `run`, this module, which lacks the names of the flow's annotations.
    run.__signature__ = inspect.signature(body, eval_str=True)  # type: ignore[attr-defined]
    return run
