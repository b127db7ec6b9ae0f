"""CRD structural schemas: prune, default, validate, as the apiextensions-apiserver does.

For each custom object written, per the served version's `openAPIV3Schema`:

1. prune: fields the schema does not declare are dropped, unless under
   `x-kubernetes-preserve-unknown-fields: true`; a null for a non-nullable field is dropped.
   What was dropped is reported, because the request's `fieldValidation` decides what
   happens: `Strict` refuses the write (400), `Warn` (the server's default) answers with a
   `Warning` header, `Ignore` says nothing;
2. default: absent properties that declare `default` get it;
3. validate: type, enum, pattern, min/max length, items and properties, minimum/maximum,
   required, additionalProperties, anyOf/allOf/oneOf/not, `x-kubernetes-int-or-string`.
   Failures are collected as (field path, reason, message) like the API server's
   `details.causes`, and the write is refused with 422 Invalid.

Not evaluated: `x-kubernetes-validations` (CEL rules), `format` (date-time, int32, ...),
list-type uniqueness (`x-kubernetes-list-type: set|map`). Patterns are Go RE2; the few that
Python's `re` cannot compile are skipped.
"""

from __future__ import annotations

import copy
import re
from functools import lru_cache
from typing import Any

Cause = tuple[str, str, str]  # (field, reason, message)

# Metadata is validated by the API server itself, not by the CRD's schema.
_ROOT_KEYS = frozenset({"apiVersion", "kind", "metadata"})


def prune_and_default(obj: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Prune and default `obj` in place; return the paths of the unknown fields dropped."""
    unknown: list[str] = []
    properties = schema.get("properties", {})
    for key in list(obj):
        if key in _ROOT_KEYS:
            continue
        if key in properties:
            obj[key] = _prune(obj[key], properties[key], key, unknown)
            if obj[key] is _DROP:
                del obj[key]
        elif not schema.get("x-kubernetes-preserve-unknown-fields"):
            unknown.append(key)
            del obj[key]
    _default_properties(obj, schema, skip=_ROOT_KEYS)
    return unknown


def validate(obj: dict[str, Any], schema: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    body = {k: v for k, v in obj.items() if k not in _ROOT_KEYS}
    root = {k: v for k, v in schema.items() if k not in ("required",)}
    root["properties"] = {k: v for k, v in schema.get("properties", {}).items() if k not in _ROOT_KEYS}
    required = [name for name in schema.get("required", []) if name not in _ROOT_KEYS]
    _validate(body, {**root, "required": required}, "", causes)
    return causes


class _Drop:
    pass


_DROP: Any = _Drop()


def _prune(value: Any, schema: dict[str, Any], path: str, unknown: list[str]) -> Any:
    if value is None:
        return None if schema.get("nullable") else _DROP
    if (
        schema.get("x-kubernetes-preserve-unknown-fields")
        and "properties" not in schema
        and "items" not in schema
        and "additionalProperties" not in schema
    ):
        return value
    if isinstance(value, dict) and _is_type(schema, "object"):
        properties = schema.get("properties")
        additional = schema.get("additionalProperties")
        for key in list(value):
            child_path = f"{path}.{key}"
            if properties is not None and key in properties:
                child_schema = properties[key]
            elif isinstance(additional, dict):
                child_schema = additional
            elif additional is True or schema.get("x-kubernetes-preserve-unknown-fields"):
                continue
            else:
                unknown.append(child_path)
                del value[key]
                continue
            pruned = _prune(value[key], child_schema, child_path, unknown)
            if pruned is _DROP:
                del value[key]
            else:
                value[key] = pruned
        _default_properties(value, schema)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        kept = []
        for index, item in enumerate(value):
            pruned = _prune(item, schema["items"], f"{path}[{index}]", unknown)
            kept.append(None if pruned is _DROP else pruned)
        value[:] = kept
    return value


def _default_properties(
    value: dict[str, Any], schema: dict[str, Any], skip: frozenset[str] | set[str] = frozenset()
) -> None:
    for key, child in schema.get("properties", {}).items():
        if key not in skip and key not in value and "default" in child:
            default = copy.deepcopy(child["default"])
            value[key] = _prune(default, child, key, [])


def _is_type(schema: dict[str, Any], name: str) -> bool:
    declared = schema.get("type")
    return declared == name or (declared is None and name == "object" and "properties" in schema)


def _validate(value: Any, schema: dict[str, Any], path: str, causes: list[Cause]) -> None:
    field = path or "<root>"
    if value is None:
        if not schema.get("nullable"):
            causes.append((field, "FieldValueRequired", f"{field}: Required value"))
        return
    if schema.get("x-kubernetes-int-or-string"):
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            causes.append(
                (
                    field,
                    "FieldValueTypeInvalid",
                    f"{field}: Invalid value: must be an integer or a string",
                )
            )
            return
    elif not _type_ok(value, schema.get("type")):
        causes.append(
            (
                field,
                "FieldValueTypeInvalid",
                f'{field}: Invalid value: "{_type_name(value)}": '
                f'{field} in body must be of type {schema.get("type")}: "{_type_name(value)}"',
            )
        )
        return

    if "enum" in schema and value not in schema["enum"]:
        supported = ", ".join(f'"{v}"' for v in schema["enum"])
        causes.append(
            (
                field,
                "FieldValueNotSupported",
                f"{field}: Unsupported value: {_show(value)}: supported values: {supported}",
            )
        )
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            causes.append(
                (
                    field,
                    "FieldValueTooLong",
                    f"{field}: Too long: may not be more than {schema['maxLength']} bytes",
                )
            )
        if "minLength" in schema and len(value) < schema["minLength"]:
            causes.append(
                (
                    field,
                    "FieldValueInvalid",
                    f"{field}: Invalid value: {_show(value)}: {field} in body should be at "
                    f"least {schema['minLength']} chars long",
                )
            )
        pattern = _compile(schema["pattern"]) if "pattern" in schema else None
        if pattern is not None and not pattern.search(value):
            causes.append(
                (
                    field,
                    "FieldValueInvalid",
                    f"{field}: Invalid value: {_show(value)}: {field} in body should match '{schema['pattern']}'",
                )
            )
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_bounds(value, schema, field, causes)
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            causes.append(
                (
                    field,
                    "FieldValueTooMany",
                    f"{field}: Too many: {len(value)}: must have at most {schema['maxItems']} items",
                )
            )
        if "minItems" in schema and len(value) < schema["minItems"]:
            causes.append(
                (
                    field,
                    "FieldValueInvalid",
                    f"{field}: Invalid value: {len(value)}: {field} in body should have at "
                    f"least {schema['minItems']} items",
                )
            )
        if isinstance(schema.get("items"), dict):
            for index, item in enumerate(value):
                _validate(item, schema["items"], f"{path}[{index}]", causes)
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                child = f"{path}.{name}" if path else name
                causes.append((child, "FieldValueRequired", f"{child}: Required value"))
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            causes.append(
                (
                    field,
                    "FieldValueTooMany",
                    f"{field}: Too many: {len(value)}: must have at most {schema['maxProperties']} items",
                )
            )
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            causes.append(
                (
                    field,
                    "FieldValueInvalid",
                    f"{field}: Invalid value: {field} in body should have at least "
                    f"{schema['minProperties']} properties",
                )
            )
        properties = schema.get("properties", {})
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            child = f"{path}.{key}" if path else key
            if key in properties:
                _validate(item, properties[key], child, causes)
            elif isinstance(additional, dict):
                _validate(item, additional, child, causes)
    _validate_combinators(value, schema, path, field, causes)


def _validate_combinators(value: Any, schema: dict[str, Any], path: str, field: str, causes: list[Cause]) -> None:
    def passes(sub: dict[str, Any]) -> bool:
        found: list[Cause] = []
        # Inside anyOf/allOf/oneOf/not a structural schema repeats no type: inherit it.
        merged = {
            **({"type": schema["type"]} if "type" in schema and "type" not in sub else {}),
            **sub,
        }
        _validate(value, merged, path, found)
        return not found

    for sub in schema.get("allOf", []):
        if not passes(sub):
            causes.append(
                (
                    field,
                    "FieldValueInvalid",
                    f"{field}: Invalid value: {_show(value)}: does not match all of allOf",
                )
            )
    if "anyOf" in schema and not any(passes(sub) for sub in schema["anyOf"]):
        causes.append(
            (
                field,
                "FieldValueInvalid",
                f"{field}: Invalid value: {_show(value)}: must validate at least one schema (anyOf)",
            )
        )
    if "oneOf" in schema and sum(passes(sub) for sub in schema["oneOf"]) != 1:
        causes.append(
            (
                field,
                "FieldValueInvalid",
                f"{field}: Invalid value: {_show(value)}: must validate one and only one schema (oneOf)",
            )
        )
    if "not" in schema and passes(schema["not"]):
        causes.append(
            (
                field,
                "FieldValueInvalid",
                f"{field}: Invalid value: {_show(value)}: must not validate the schema (not)",
            )
        )


def _check_bounds(value: float, schema: dict[str, Any], field: str, causes: list[Cause]) -> None:
    if "minimum" in schema:
        low = schema["minimum"]
        if value < low or (schema.get("exclusiveMinimum") is True and value == low):
            causes.append(
                (
                    field,
                    "FieldValueInvalid",
                    f"{field}: Invalid value: {value}: {field} in body should be greater than or equal to {low}",
                )
            )
    if "maximum" in schema:
        high = schema["maximum"]
        if value > high or (schema.get("exclusiveMaximum") is True and value == high):
            causes.append(
                (
                    field,
                    "FieldValueInvalid",
                    f"{field}: Invalid value: {value}: {field} in body should be less than or equal to {high}",
                )
            )
    if "multipleOf" in schema and schema["multipleOf"] and value % schema["multipleOf"]:
        causes.append(
            (
                field,
                "FieldValueInvalid",
                f"{field}: Invalid value: {value}: should be a multiple of {schema['multipleOf']}",
            )
        )


def _type_ok(value: Any, declared: str | None) -> bool:
    if declared is None:
        return True
    if declared == "object":
        return isinstance(value, dict)
    if declared == "array":
        return isinstance(value, list)
    if declared == "string":
        return isinstance(value, str)
    if declared == "boolean":
        return isinstance(value, bool)
    if declared == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if declared == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return True


def _type_name(value: Any) -> str:
    return {
        dict: "object",
        list: "array",
        str: "string",
        bool: "boolean",
        int: "integer",
        float: "number",
    }.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


@lru_cache(maxsize=512)
def _compile(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None
