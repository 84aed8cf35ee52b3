"""An expected failure as the command line says it."""

from __future__ import annotations

from baskets.errors import BasketsError


def command_line_message(error: BasketsError) -> str:
    """`error`'s one line for the terminal."""
    return error.message
