"""The one authorisation task: who runs this flow, checked before any data is read."""

from __future__ import annotations

from baskets.roles import Action, Actor, authorize
from baskets.runtime import Runtime
from flows.runner import run_logger, task


@task(name="authorize-operator")
def authorize_operator(runtime: Runtime, operator: str | None, action: Action) -> Actor:
    """The operator as an Actor; NotPermitted (exit 3) when none is given, the name is unknown,
    or the role lacks `action`. Reading the audit also admits the schedule's built-in actor."""
    with runtime.engine.connect() as connection:
        if action is Action.AUDIT:
            # Here, not at the top: the audit report's package loads pandas, which the other
            # flows (an export, a delete) would otherwise pay ~0.3 s for on every command.
            from baskets.audit_report import authorize_report_reader

            actor = authorize_report_reader(connection, operator)
        else:
            actor = authorize(connection, operator, action)
    run_logger().info("%s may %s as %s", actor.name, action.value, actor.role)
    return actor
