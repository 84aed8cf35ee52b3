"""The `schema` setting: `builtin`, a preset's name, or the path of a mapping file, read into a Mapping."""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from baskets.errors import WorkerMisconfigured
from baskets.models import BASKET_KEY_MAX
from baskets.schema.model import Mapping

BUILTIN = "builtin"
PRESETS_DIR = Path(__file__).with_name("presets")
# A mapping is a page of TOML; a bigger file is not one.
MAX_FILE_BYTES = 256 * 1024


def preset_names() -> list[str]:
    return sorted(path.stem for path in PRESETS_DIR.glob("*.toml"))


def load_mapping(setting: str) -> Mapping | None:
    """The mapping the `schema` setting names; None for `builtin`. WorkerMisconfigured (exit 2)
    in one line naming the setting, file and key when it cannot be used."""
    value = setting.strip()
    if value == BUILTIN:
        return None
    if not value or not value.isprintable():
        raise _refused(
            f"{setting!r} is not builtin, a preset or a file (expected e.g. magento2 or ./shop.toml)"
        )
    if value in preset_names():
        path = PRESETS_DIR / f"{value}.toml"
    elif value.endswith(".toml") or "/" in value or "\\" in value:
        path = Path(value)
    else:
        raise _refused(
            f"{value!r} is not a preset "
            f"(expected builtin, {', '.join(preset_names())} or the path of a .toml file)"
        )
    return _read(str(path.expanduser().absolute()), _stamp(path))


def _stamp(path: Path) -> tuple[float, int]:
    try:
        info = path.expanduser().stat()
    except OSError as error:
        raise _refused(f"cannot read the mapping file {str(path)!r}: {error.strerror or error}") from None
    if not path.expanduser().is_file():
        raise _refused(f"{str(path)!r} is not a file (expected a mapping file, e.g. ./shop.toml)")
    if info.st_size > MAX_FILE_BYTES:
        raise _refused(
            f"{str(path)!r} is {info.st_size:,} bytes (expected a mapping of at most {MAX_FILE_BYTES:,})"
        )
    return info.st_mtime, info.st_size


@functools.lru_cache(maxsize=16)
def _read(path: str, stamp: tuple[float, int]) -> Mapping:
    """The mapping in `path` (cached while the file's time and size stay)."""
    try:
        data = tomllib.loads(Path(path).read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise _refused(f"{path}: not UTF-8 text (expected a TOML mapping file)") from None
    except tomllib.TOMLDecodeError as error:
        raise _refused(f"{path}: {error} (expected TOML)") from None
    except OSError as error:
        raise _refused(f"cannot read the mapping file {path!r}: {error.strerror or error}") from None
    try:
        return Mapping.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top)"
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown key (see docs/schema-mapping.md for the keys a mapping has)"
        raise _refused(f"{Path(path).name}: {_printable(where)}: {message}") from None


def current_mapping() -> Mapping | None:
    """The mapping of this process's settings (the current runtime's, else read now)."""
    from baskets.runtime import _current, load_runtime_settings

    settings = _current[-1].settings if _current else load_runtime_settings()
    return load_mapping(settings.schema)


# Longest text key an id may give: what the audit log's basket_id column holds.
MAX_TEXT_KEY = BASKET_KEY_MAX


def parse_key_as(kind: str, text: str) -> Any:
    """A basket key of type `kind` (integer, guid, text); ValueError naming the value otherwise."""
    from baskets.filters import check_typable
    from baskets.guid import parse_guid

    value = check_typable(str(text)).strip()
    if kind == "guid":
        return parse_guid(value)
    if kind == "integer":
        if not value.lstrip("-").isdigit() or len(value) > 20 or abs(int(value)) >= 2**63:
            raise ValueError(f"{value[:40]!r} is not a basket ID (expected a whole number, e.g. 1042)")
        return int(value)
    if not value or len(value) > MAX_TEXT_KEY:
        raise ValueError(
            f"a basket ID of {len(value):,} characters (expected 1 to {MAX_TEXT_KEY} characters)"
        )
    return value


def parse_basket_key(text: str) -> str:
    """A basket id as this process's schema keys baskets (a GUID on the builtin tables), as text;
    ValueError naming the value otherwise."""
    mapping = current_mapping()
    return str(parse_key_as("guid" if mapping is None else mapping.basket.key_type, text))


def _printable(text: str) -> str:
    return text if text.isprintable() else repr(text)


def _refused(message: str) -> WorkerMisconfigured:
    return WorkerMisconfigured(f"schema: {message}")
