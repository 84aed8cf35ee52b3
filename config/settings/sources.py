"""Where settings come from and how a bad one is described: the TOML files (keys in any case),
the BASKETS_* variables (each must name a setting; text read as the number or true/false its
setting takes), and the one-line message naming the first bad setting."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel, BeforeValidator, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import EnvSettingsSource, TomlConfigSettingsSource

from config.settings.common import ENV_PREFIX, NON_SETTING_VARIABLES, SettingsError, shown


class SettingsFileSource(TomlConfigSettingsSource):
    """A TOML settings file whose keys match settings whatever their case, as variables do;
    two keys of one table differing only in case are refused."""

    def _read_file(self, file_path: Path | Traversable) -> dict[str, Any]:
        try:
            with file_path.open(mode="rb") as stream:
                data = tomllib.load(stream)
        except tomllib.TOMLDecodeError as error:
            raise SettingsError(f"settings file {file_path}: {error} (expected TOML)") from None
        return _fold_key_case(data, str(file_path), ())


def _fold_key_case(table: dict[str, Any], file: str, where: tuple[str, ...]) -> dict[str, Any]:
    folded: dict[str, Any] = {}
    given_as: dict[str, str] = {}
    for key, value in table.items():
        lower = key.lower()
        if lower in given_as:
            first, second = (shown(".".join((*where, name))) for name in (given_as[lower], key))
            raise SettingsError(
                f"settings file {file}: {first} and {second} are the same setting "
                "differing in case (keep one)"
            )
        given_as[lower] = key
        folded[lower] = _fold_key_case(value, file, (*where, key)) if isinstance(value, dict) else value
    return folded


class StrictEnvSource(EnvSettingsSource):
    """BASKETS_* variables: each must name a setting, and text is read as the number or true/false
    its setting takes (a JSON value must have the right type already, as in a file)."""

    def __call__(self) -> dict[str, Any]:
        refuse_unknown_variables(os.environ, self.settings_cls)
        return _read_text(self.settings_cls, super().__call__())


def refuse_unknown_variables(environ: Mapping[str, str], model: type[BaseModel]) -> None:
    """Raise SettingsError naming the first BASKETS_* variable that is no setting of `model`
    (nested keys joined by `__`), or two variables that differ only in case."""
    given_as: dict[str, str] = {}
    for name in sorted(environ):
        if not name.upper().startswith(ENV_PREFIX) or name in NON_SETTING_VARIABLES:
            continue
        if name.lower() in given_as:
            raise SettingsError(
                f"{shown(given_as[name.lower()])} and {shown(name)}: the same setting differing in case "
                "(keep one)"
            )
        given_as[name.lower()] = name
        expected = _unknown_setting(model, name[len(ENV_PREFIX) :].lower().split("__"), ENV_PREFIX)
        if expected is not None:
            raise SettingsError(f"{shown(name)}: unknown setting (expected one of {expected})")


def _unknown_setting(model: type[BaseModel], parts: list[str], prefix: str) -> str | None:
    """None when `parts` names a setting of `model`, else the variable names it could have been."""
    fields = model.model_fields
    head, rest = parts[0], parts[1:]
    if head not in fields:
        return ", ".join(f"{prefix}{name}".upper() for name in fields)
    annotation = fields[head].annotation
    if not rest:
        return None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _unknown_setting(annotation, rest, f"{prefix}{head}__")
    if get_origin(annotation) is dict and len(rest) == 1:
        return None  # one entry of a table, e.g. BASKETS_RETENTION__DAYS__ANONYMOUS
    return f"{prefix}{head}".upper()


_TEXT_READERS = {kind: TypeAdapter(kind) for kind in (int, float, bool)}


def _text_type(field: FieldInfo | None) -> Any:
    """The type a field's text is read as; None for a field that reads its own text (FileMode)."""
    if field is None or any(isinstance(item, BeforeValidator) for item in field.metadata):
        return None
    return field.annotation


def _read_text(annotation: Any, value: Any) -> Any:
    """`value` from the environment with text turned into the number or true/false that its
    setting (of type `annotation`) takes; text that is neither stays, for the setting to refuse."""
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if isinstance(value, dict):
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            fields = annotation.model_fields
            return {key: _read_text(_text_type(fields.get(key)), item) for key, item in value.items()}
        if get_origin(annotation) is dict:
            item_type = get_args(annotation)[1]
            return {key: _read_text(item_type, item) for key, item in value.items()}
        return value
    if isinstance(value, str) and annotation in _TEXT_READERS:
        try:
            return _TEXT_READERS[annotation].validate_python(value)
        except ValidationError:
            return value
    return value


# What a value of the wrong type should have been, by pydantic's error type.
_TYPE_EXPECTED = {
    "int_type": "a whole number (expected e.g. 30)",
    "float_type": "a number (expected e.g. 0.25)",
    "bool_type": "true or false (expected e.g. false)",
}


def _as_written(value: Any) -> str:
    """A value as the settings file spells it (true, not True)."""
    return str(value).lower() if isinstance(value, bool) else repr(value)


def _field_names(settings: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    model: Any = settings
    for part in loc:
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def describe(error: ValidationError, settings: type[BaseModel]) -> str:
    """The one line naming the first setting `error` (validating `settings`) found bad."""
    first = error.errors()[0]
    where = shown(".".join(str(part) for part in first["loc"]))
    message = first["msg"].removeprefix("Value error, ")
    kind = first["type"]
    if kind == "extra_forbidden":
        message = f"unknown setting (expected one of {', '.join(_field_names(settings, first['loc'][:-1]))})"
    elif kind in _TYPE_EXPECTED:
        message = f"{_as_written(first.get('input'))} is not {_TYPE_EXPECTED[kind]}"
    elif kind in ("model_type", "dict_type"):
        message = f"{_as_written(first.get('input'))} is not a table (expected e.g. [{where}])"
    return f"setting {where}: {message}"


class TextEnvSource(EnvSettingsSource):
    """BASKETS_* variables with text read as the number or true/false its setting takes; unknown
    variables are not refused (for reading one part of the settings alone)."""

    def __call__(self) -> dict[str, Any]:
        return _read_text(self.settings_cls, super().__call__())


class LenientFileSource(SettingsFileSource):
    """A settings file that reads as empty when it cannot be read."""

    def _read_file(self, file_path: Path | Traversable) -> dict[str, Any]:
        try:
            return super()._read_file(file_path)
        except (SettingsError, OSError, UnicodeDecodeError):
            return {}
