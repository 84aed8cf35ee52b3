"""The Prefect flow the suite's flows become once Prefect is loaded (flows.runner imports this only
then): Prefect's own Flow, with plain parameters stored without loading FastAPI.

Prefect stores a flow run's parameters through FastAPI's `jsonable_encoder`, and importing it loads
FastAPI (about 0.15 s of CPU, in every tracked command). The flows here take only strings, numbers,
booleans and tuples or lists of them, whose JSON form pydantic gives the same (a tuple becomes a
list); any other value still goes through Prefect's own serialization.
"""

from __future__ import annotations

from typing import Any

from prefect import Flow
from pydantic_core import to_jsonable_python

_SCALARS = (str, int, float, bool, type(None))


class SuiteFlow(Flow[Any, Any]):
    """A Prefect Flow whose plain parameters are serialized by pydantic (module docstring)."""

    def serialize_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        if all(is_plain(value) for value in parameters.values()):
            return {name: to_jsonable_python(value) for name, value in parameters.items()}
        return super().serialize_parameters(parameters)


def is_plain(value: Any) -> bool:
    """A scalar, or a tuple or list of scalars: a value whose JSON form needs no encoder."""
    if isinstance(value, tuple | list):
        return all(isinstance(item, _SCALARS) for item in value)
    return isinstance(value, _SCALARS)
