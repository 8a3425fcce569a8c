"""CustomResourceDefinition checks and the status the real CRD controllers would set.

A real cluster establishes a CRD asynchronously; the lab does it within the write, so a
manifest holding a CRD and its first custom object applies in one ``kubectl apply``.
"""

from __future__ import annotations

from typing import Any

from lbc_lab.apiserver.status import CauseList

Obj = dict[str, Any]


def validate(crd: Obj, causes: CauseList) -> None:
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        causes.required("spec")
        return
    group = spec.get("group") or ""
    names = spec.get("names") or {}
    if not group:
        causes.required("spec.group")
    for field in ("plural", "kind"):
        if not names.get(field):
            causes.required(f"spec.names.{field}")
    plural = names.get("plural", "")
    name = crd["metadata"]["name"]
    if plural and group and name != f"{plural}.{group}":
        causes.bad_value("metadata.name", name, 'must be spec.names.plural+"."+spec.group')
    scope = spec.get("scope")
    if scope not in ("Namespaced", "Cluster"):
        causes.add(
            "spec.scope",
            f'Unsupported value: "{scope}": supported values: "Cluster", "Namespaced"',
            "FieldValueNotSupported",
        )
    versions = spec.get("versions") or []
    if not versions:
        causes.required("spec.versions")
        return
    storage = [v for v in versions if v.get("storage")]
    if len(storage) != 1:
        causes.bad_value(
            "spec.versions",
            [v.get("name") for v in versions],
            "must have exactly one version marked as storage version",
        )
    for i, version in enumerate(versions):
        if not version.get("name"):
            causes.required(f"spec.versions[{i}].name")
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if schema is None:
            causes.add(
                f"spec.versions[{i}].schema.openAPIV3Schema",
                "Required value: schemas are required",
                "FieldValueRequired",
            )
        elif schema.get("type") != "object":
            causes.add(
                f"spec.versions[{i}].schema.openAPIV3Schema.type",
                "Unsupported value: "
                + (f'"{schema.get("type")}"' if schema.get("type") else '""')
                + ': supported values: "object"',
                "FieldValueNotSupported",
            )


def with_status(crd: Obj) -> Obj:
    """The CRD as the naming and establishing controllers leave it: accepted and Established."""
    spec = crd["spec"]
    stored = [v["name"] for v in spec.get("versions") or [] if v.get("storage")]
    previous = (crd.get("status") or {}).get("storedVersions") or []
    now = crd["metadata"].get("creationTimestamp", "")
    conditions = [
        {
            "type": "NamesAccepted",
            "status": "True",
            "reason": "NoConflicts",
            "message": "no conflicts found",
            "lastTransitionTime": now,
        },
        {
            "type": "Established",
            "status": "True",
            "reason": "InitialNamesAccepted",
            "message": "the initial names have been accepted",
            "lastTransitionTime": now,
        },
    ]
    accepted = dict(spec["names"])
    accepted.setdefault("singular", spec["names"]["kind"].lower())
    accepted.setdefault("listKind", spec["names"]["kind"] + "List")
    return {
        **crd,
        "status": {
            "conditions": conditions,
            "acceptedNames": accepted,
            "storedVersions": sorted(set(previous) | set(stored)),
        },
    }
