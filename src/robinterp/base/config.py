"""Config sections → typed, frozen settings objects, with errors that name the key.

The workflow passes each job only the config sections it needs, as JSON; the
job turns each section into the frozen dataclass of its stage
(``<stage>/settings.py``) with :func:`settings_from_json`, once, and hands that
object to the library, which is configured only through arguments. Nested
sections (an attack inside the training settings, IG settings inside the
attribution settings) become nested dataclasses, found from the type
annotations.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, Mapping, TypeVar

from robinterp.base.errors import ConfigError

T = TypeVar("T")


def _nested_dataclass(annotation) -> type | None:
    """The dataclass an annotation names (``X`` or ``X | None``), or None."""
    if dataclasses.is_dataclass(annotation):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        classes = [a for a in typing.get_args(annotation) if dataclasses.is_dataclass(a)]
        return classes[0] if len(classes) == 1 else None
    return None


def _named_dataclasses(annotation) -> type | None:
    """The dataclass X of an annotation ``dict[str, X]`` (a section of named entries), or None."""
    if typing.get_origin(annotation) is dict:
        args = typing.get_args(annotation)
        if len(args) == 2 and dataclasses.is_dataclass(args[1]):
            return args[1]
    return None


def from_dict(cls: type[T], values: Mapping[str, Any] | None, where: str) -> T:
    """Build dataclass ``cls`` from ``values``; unknown or missing keys raise ConfigError naming ``where``.

    A field annotated with a dataclass (or ``dataclass | None``) whose value is a
    mapping is built recursively, its errors naming ``where.<field>``; a field
    annotated ``dict[str, X]`` with X a dataclass has each entry built as an X.
    """
    values = dict(values or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in {where}; allowed: {sorted(fields)}")
    missing = [n for n, f in fields.items() if n not in values
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"missing key(s) {missing} in {where}")
    hints = typing.get_type_hints(cls)
    for name in fields:
        value = values.get(name)
        nested = _nested_dataclass(hints[name])
        if nested is not None and isinstance(value, Mapping):
            values[name] = from_dict(nested, value, f"{where}.{name}")
        named = _named_dataclasses(hints[name])
        if named is not None and isinstance(value, Mapping):
            values[name] = {key: from_dict(named, item, f"{where}.{name}.{key}") for key, item in value.items()}
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid value in {where}: {exc}") from exc


def parse_json_argument(text: str, what: str) -> dict:
    """A JSON object given on the command line; ConfigError naming the argument otherwise."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ConfigError(f"{what} must be a JSON object")
    return value


def settings_from_json(cls: type[T], text: str, what: str, where: str) -> T:
    """The settings object ``cls`` of the JSON config section ``text`` (command-line argument ``what``).

    Args:
        cls: the stage's settings dataclass.
        text: the section as JSON.
        what: the command-line argument it came from, named when it is not JSON.
        where: the section's path in the config (e.g. ``datasets.cifar10.train``), named in errors.
    """
    return from_dict(cls, parse_json_argument(text, what), where)
