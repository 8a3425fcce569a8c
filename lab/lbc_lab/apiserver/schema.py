"""Structural-schema handling for custom resources: defaulting, pruning, validation.

The order is the real server's: defaults are applied, unknown fields are pruned (and reported,
so ``fieldValidation=Strict`` can refuse them), then the object is validated and every
violation is collected into one 422 whose causes name the field path (``spec.port``,
``spec.networking.ingress[0].ports``). Messages follow the wording of the real validators.

Supported keywords: type, properties, additionalProperties, items, required, enum, pattern,
minimum/maximum (and exclusive forms), minLength/maxLength, minItems/maxItems, nullable,
default, x-kubernetes-preserve-unknown-fields, x-kubernetes-int-or-string,
x-kubernetes-embedded-resource (treated like preserve-unknown-fields for metadata).
anyOf/allOf/oneOf/not (value validations, as structural schemas restrict them). Not supported
(accepted, not enforced): format, x-kubernetes-validations (CEL), uniqueItems, multipleOf,
x-kubernetes-list-type uniqueness.
"""

from __future__ import annotations

import copy
import re
from functools import lru_cache
from typing import Any

from lbc_lab.apiserver.status import CauseList, go_value

Obj = dict[str, Any]
_TOP_LEVEL = ("apiVersion", "kind", "metadata")


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_ok(expected: str, value: Any, schema: Obj) -> bool:
    if value is None:
        return bool(schema.get("nullable"))
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, (int, str)) and not isinstance(value, bool)
    actual = _type_name(value)
    if expected == "number":
        return actual in ("integer", "number")
    if expected == "integer" and isinstance(value, float) and value.is_integer():
        return True
    return actual == expected


def apply_defaults(schema: Obj, value: Any) -> Any:
    """Fill in ``default`` values of absent properties (in place on a private copy)."""
    if isinstance(value, dict):
        for name, sub in (schema.get("properties") or {}).items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                value[name] = apply_defaults(sub, value[name])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in list(value):
                if key not in (schema.get("properties") or {}):
                    value[key] = apply_defaults(extra, value[key])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [apply_defaults(schema["items"], v) for v in value]
    return value


def prune(schema: Obj, value: Any, path: str, dropped: list[str]) -> Any:
    """Remove fields the schema does not declare; their paths are appended to ``dropped``."""
    if isinstance(value, dict):
        if schema.get("x-kubernetes-preserve-unknown-fields") or schema.get(
            "x-kubernetes-embedded-resource"
        ):
            props = schema.get("properties") or {}
            return {
                k: prune(props[k], v, _join(path, k), dropped) if k in props else v
                for k, v in value.items()
            }
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        out: Obj = {}
        for key, sub_value in value.items():
            if path == "" and key in _TOP_LEVEL:
                out[key] = sub_value
            elif props is not None and key in props:
                out[key] = prune(props[key], sub_value, _join(path, key), dropped)
            elif isinstance(extra, dict):
                out[key] = prune(extra, sub_value, _join(path, key), dropped)
            elif extra is True:
                out[key] = sub_value
            else:
                dropped.append(_join(path, key))
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [prune(schema["items"], v, f"{path}[{i}]", dropped) for i, v in enumerate(value)]
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def validate(schema: Obj, value: Any, path: str, causes: CauseList) -> None:
    """Collect every violation of ``schema`` by ``value`` at ``path`` into ``causes``."""
    expected = schema.get("type")
    if path == "":
        # The root: apiVersion/kind/metadata are checked by the generic object rules.
        value = {k: v for k, v in value.items() if k not in _TOP_LEVEL}
    if schema.get("x-kubernetes-int-or-string") and not _type_ok("", value, schema):
        shown = _type_name(value)
        causes.add(
            path,
            f'Invalid value: "{shown}": {path} in body must be of type integer,string: "{shown}"',
            "FieldValueTypeInvalid",
        )
        return
    if expected and not _type_ok(expected, value, schema):
        shown = _type_name(value)
        causes.add(
            path,
            f'Invalid value: "{shown}": {path} in body must be of type {expected}: "{shown}"',
            "FieldValueTypeInvalid",
        )
        return
    if value is None:
        return
    enum = schema.get("enum")
    if enum is not None and value not in enum:
        supported = ", ".join(go_value(e) for e in enum)
        causes.add(
            path,
            f"Unsupported value: {go_value(value)}: supported values: {supported}",
            "FieldValueNotSupported",
        )
    _validate_combinators(schema, value, path, causes)
    if isinstance(value, str):
        _validate_string(schema, value, path, causes)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        _validate_number(schema, value, path, causes)
    elif isinstance(value, list):
        _validate_array(schema, value, path, causes)
    elif isinstance(value, dict):
        _validate_object(schema, value, path, causes)


def _branch_causes(branch: Obj, value: Any, path: str) -> list[Any]:
    scratch = CauseList()
    validate(branch, value, path, scratch)
    return scratch.items


def _validate_combinators(schema: Obj, value: Any, path: str, causes: CauseList) -> None:
    shown = f'Invalid value: "{_type_name(value)}"'
    for branch in schema.get("allOf") or ():
        causes.items.extend(_branch_causes(branch, value, path))
    any_of = schema.get("anyOf")
    if any_of:
        failures = [_branch_causes(b, value, path) for b in any_of]
        if all(failures):
            causes.add(path, f"{shown}: must validate at least one schema (anyOf)")
            causes.items.extend(failures[0])
    one_of = schema.get("oneOf")
    if one_of:
        passing = sum(1 for b in one_of if not _branch_causes(b, value, path))
        if passing != 1:
            causes.add(path, f"{shown}: must validate one and only one schema (oneOf)")
    negated = schema.get("not")
    if isinstance(negated, dict) and not _branch_causes(negated, value, path):
        causes.add(path, f"{shown}: must not validate the schema (not)")


def _validate_string(schema: Obj, value: str, path: str, causes: CauseList) -> None:
    pattern = schema.get("pattern")
    if pattern is not None and not _compiled(pattern).search(value):
        causes.bad_value(path, value, f"{path} in body should match '{pattern}'")
    if "minLength" in schema and len(value) < schema["minLength"]:
        causes.bad_value(
            path, value, f"{path} in body should be at least {schema['minLength']} chars long"
        )
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        causes.add(
            path,
            f"Too long: may not be more than {schema['maxLength']} bytes",
            "FieldValueTooLong",
        )


def _validate_number(schema: Obj, value: float, path: str, causes: CauseList) -> None:
    if "minimum" in schema:
        low = schema["minimum"]
        if value < low or (schema.get("exclusiveMinimum") is True and value == low):
            op = (
                "greater than"
                if schema.get("exclusiveMinimum") is True
                else ("greater than or equal to")
            )
            causes.bad_value(path, value, f"{path} in body should be {op} {low}")
    if "maximum" in schema:
        high = schema["maximum"]
        if value > high or (schema.get("exclusiveMaximum") is True and value == high):
            op = "less than" if schema.get("exclusiveMaximum") is True else "less than or equal to"
            causes.bad_value(path, value, f"{path} in body should be {op} {high}")


def _validate_array(schema: Obj, value: list[Any], path: str, causes: CauseList) -> None:
    if "minItems" in schema and len(value) < schema["minItems"]:
        causes.bad_value(
            path, len(value), f"{path} in body should have at least {schema['minItems']} items"
        )
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        causes.add(
            path,
            f"Too many: {len(value)}: must have at most {schema['maxItems']} items",
            "FieldValueTooMany",
        )
    items = schema.get("items")
    if isinstance(items, dict):
        for i, item in enumerate(value):
            validate(items, item, f"{path}[{i}]", causes)


def _validate_object(schema: Obj, value: Obj, path: str, causes: CauseList) -> None:
    for name in schema.get("required") or ():
        if name not in value:
            causes.required(_join(path, name))
    props = schema.get("properties") or {}
    for name, sub in props.items():
        if name in value:
            validate(sub, value[name], _join(path, name), causes)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key, sub_value in value.items():
            if key not in props:
                validate(extra, sub_value, _join(path, key), causes)
