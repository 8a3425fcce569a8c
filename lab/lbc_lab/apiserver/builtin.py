"""Built-in kinds' own admission: defaulting, the Go validators, decoding errors.

Custom resources are checked against their CRD's schema; built-in kinds are checked by Go code
in kube-apiserver (decoding into typed structs, then per-kind ``Validate*`` functions and
admission plugins). This module is the lab's dispatch for the kinds it reproduces that for
(see ``networking``, ``services``); kinds it does not list are stored as sent (a documented
approximation).

A built-in kind may carry an OpenAPI schema (``ResourceType.schema``): it is used to drop unknown
fields (as decoding does, reported for ``fieldValidation=Strict``) and to refuse values of the
wrong JSON type with the 400 a decoding error gets, never with the 422 a CRD would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from lbc_lab.apiserver import networking, schema, services
from lbc_lab.apiserver.status import ApiError, CauseList

Obj = dict[str, Any]
#: ``(storage) -> objects of that storage`` (what admission plugins look up).
Lookup = Callable[[str], Iterator[Obj]]

_VALIDATORS: dict[str, Callable[[Obj, Obj | None, CauseList], None]] = {
    networking.INGRESSES: networking.validate_ingress,
    networking.INGRESS_CLASSES: networking.validate_ingress_class,
}


def mutate(storage: str, obj: Obj, old: Obj | None, lookup: Lookup) -> None:
    """Defaulting and mutating admission, in place, before validation (``old`` None: create)."""
    if storage == networking.INGRESSES and old is None:
        networking.default_ingress_class(obj, lookup(networking.INGRESS_CLASSES))
        # Go serialises the empty status struct: a new Ingress reads back with this.
        obj.setdefault("status", {"loadBalancer": {}})
    elif storage == networking.INGRESS_CLASSES:
        networking.default_ingress_class_spec(obj)
    elif storage == services.SERVICES:
        services.admit(obj, old, lookup(services.SERVICES))


def validate(storage: str, obj: Obj, old: Obj | None, causes: CauseList) -> None:
    """The kind's Go validators (create when ``old`` is None, else update)."""
    check = _VALIDATORS.get(storage)
    if check is not None:
        check(obj, old, causes)


def decode(kind: str, version: str, object_schema: Obj, obj: Obj) -> Obj:
    """The object as decoding into Go structs leaves it: nulls gone (omitempty), and values of
    the wrong JSON type refused as Go's decoder refuses them (400, not 422)."""
    obj = _without_nulls(obj)
    scratch = CauseList()
    schema.validate(object_schema, obj, "", scratch)
    wrong = [c for c in scratch.items if c.reason == "FieldValueTypeInvalid"]
    if wrong:
        field = wrong[0].field
        raise ApiError(
            400,
            f'{kind} in version "{version}" cannot be handled as a {kind}: json: cannot '
            f"unmarshal into Go struct field {kind}.{field} (wrong type)",
        )
    return obj


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value
