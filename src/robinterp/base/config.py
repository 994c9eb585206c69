"""The config: one schema that validates it, and its sections → typed, frozen settings objects.

``config.schema.yaml`` beside this module (which the workflow's
``workflow/schemas/config.schema.yaml`` links to) is the one validator of the
config: the workflow checks the whole config against it when it starts
(:func:`validate_config`), and every job checks the sections it receives against
their definition (:func:`validate_section`) before turning each into the frozen
dataclass of its stage (``<stage>/settings.py``) with :func:`settings_from_json`,
once; the library is then configured only through arguments. The schema owns
types, ranges and names; a settings class keeps only the checks that involve
several fields. Every error names the key and the rule it breaks.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from pathlib import Path
from typing import Any, Mapping, TypeVar

from robinterp.base.errors import ConfigError

#: The config's JSON schema (draft 2020-12).
SCHEMA_FILE = Path(__file__).with_name("config.schema.yaml")

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


@functools.cache
def config_schema() -> dict:
    """The config's JSON schema, read once."""
    import yaml

    with open(SCHEMA_FILE) as f:
        return yaml.safe_load(f)


def _key_path(where: str, path) -> str:
    return ".".join([where, *(str(p) for p in path)]) if where else ".".join(str(p) for p in path)


def _schema_error(error, where: str) -> ConfigError:
    """One validation error as a ConfigError naming the key, what is wrong, and the rule (with its description)."""
    description = error.schema.get("description") if isinstance(error.schema, Mapping) else None
    rule = f"{error.validator}: {error.validator_value!r}" if error.validator not in ("$ref", "allOf") else error.validator
    hint = f"; {description}" if description else ""
    return ConfigError(f"{_key_path(where, error.absolute_path) or 'the config'}: {error.message} "
                       f"(schema rule {rule}{hint})")


def _validate(instance: Any, schema: Mapping, where: str) -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    if error is not None:
        raise _schema_error(error, where)


def validate_config(config: Mapping) -> None:
    """Check a whole config against the schema; ConfigError naming the first bad key and its rule."""
    _validate(_plain(config), config_schema(), "")


def validate_section(values: Mapping, definition: str, where: str) -> None:
    """Check one config section against its schema definition (``$defs/<definition>``).

    Args:
        values: the section.
        definition: the name of its definition in the schema (e.g. ``train_job``, ``evaluation``).
        where: the section's path in the config, named in errors.
    """
    schema = config_schema()
    if definition not in schema["$defs"]:
        raise KeyError(f"the config schema has no definition {definition!r}")
    _validate(_plain(values), {"$schema": schema["$schema"], "$defs": schema["$defs"],
                               "$ref": f"#/$defs/{definition}"}, where)


def _plain(obj: Any) -> Any:
    """Mappings as dicts and tuples as lists, as JSON has them (Snakemake's config holds its own types)."""
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def settings_from_json(cls: type[T], text: str, what: str, where: str) -> T:
    """The settings object ``cls`` of the JSON config section ``text`` (command-line argument ``what``).

    The section is first checked against the schema definition that ``cls.SCHEMA`` names.

    Args:
        cls: the stage's settings dataclass.
        text: the section as JSON.
        what: the command-line argument it came from, named when it is not JSON.
        where: the section's path in the config (e.g. ``datasets.cifar10.train``), named in errors.
    """
    values = parse_json_argument(text, what)
    validate_section(values, cls.SCHEMA, where)
    return from_dict(cls, values, where)


def read_config(argument: str) -> dict:
    """A whole config from the command line: its JSON (an argument starting with ``{``) or a YAML file's path.

    The config is checked against the schema (:func:`validate_config`) before it is returned.
    """
    if argument.lstrip().startswith("{"):
        config = parse_json_argument(argument, "the config")
    else:
        import yaml

        try:
            with open(argument) as f:
                config = yaml.safe_load(f)
        except OSError as exc:
            raise ConfigError(f"cannot read the config file {argument} ({exc.strerror})") from exc
        if not isinstance(config, dict):
            raise ConfigError(f"{argument} holds no config (a YAML mapping)")
    validate_config(config)
    return config
