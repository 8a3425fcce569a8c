"""Deletion: finalizers, DeleteOptions preconditions, namespace and CRD cascades.

Invariants:

- an object with finalizers is never removed by a delete: it gets ``deletionTimestamp`` (one
  MODIFIED event) and stays until an update empties its finalizers, which removes it (one
  DELETED event); no finalizer may be added meanwhile;
- a namespace being deleted is ``Terminating``: its contents are deleted (and held by their
  own finalizers), new objects are refused (403), and it goes once empty;
- deleting a CRD removes its custom objects (DELETED events) and stops serving them.
"""

from __future__ import annotations

from typing import Protocol

from lbc_lab.apiserver.resources import Registry, ResourceType
from lbc_lab.apiserver.status import conflict
from lbc_lab.apiserver.store import Obj, Store

_NAMESPACES = "namespaces"
_CRDS = "customresourcedefinitions.apiextensions.k8s.io"


class Writer(Protocol):
    """What deletion needs from the object service."""

    store: Store
    registry: Registry

    def now(self) -> str: ...

    def write(self, rtype: ResourceType, obj: Obj, old: Obj | None) -> Obj: ...

    def get(self, rtype: ResourceType, namespace: str, name: str) -> Obj: ...


def delete(
    objects: Writer, rtype: ResourceType, old: Obj, options: Obj | None, *, dry_run: bool
) -> Obj:
    """Delete ``old``, or mark it deleting while finalizers remain; returns its last state."""
    meta = old["metadata"]
    name = meta["name"]
    pre = (options or {}).get("preconditions") or {}
    if pre.get("uid") and pre["uid"] != meta["uid"]:
        raise conflict(
            rtype.plural,
            rtype.group,
            name,
            f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: "
            f"{meta['uid']}",
        )
    if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
        raise conflict(
            rtype.plural,
            rtype.group,
            name,
            "Precondition failed: ResourceVersion in precondition: "
            f"{pre['resourceVersion']}, ResourceVersion in object meta: "
            f"{meta['resourceVersion']}",
        )
    if dry_run:
        return old
    if rtype.storage == _NAMESPACES:
        return _delete_namespace(objects, rtype, old)
    if meta.get("finalizers"):
        if meta.get("deletionTimestamp"):
            return old
        marked = {
            **old,
            "metadata": {
                **meta,
                "deletionTimestamp": objects.now(),
                "deletionGracePeriodSeconds": 0,
            },
        }
        if rtype.tracks_generation:
            marked["metadata"]["generation"] = meta.get("generation", 1) + 1
        return objects.write(rtype, marked, old)
    return finally_remove(objects, rtype, old, old)


def finally_remove(objects: Writer, rtype: ResourceType, final: Obj, old: Obj) -> Obj:
    """Remove the object for good (its last state is ``final``) and run the cascades."""
    store = objects.store
    meta = {**final["metadata"], "resourceVersion": str(store.next_rv())}
    if not meta.get("deletionTimestamp"):
        meta["deletionTimestamp"] = objects.now()
    final = {**final, "metadata": meta}
    store.remove(rtype.storage, final, old)
    if rtype.storage == _CRDS:
        _drop_crd(objects, final)
    namespace = meta.get("namespace")
    if namespace:
        _maybe_finish_namespace(objects, namespace)
    return final


def _delete_namespace(objects: Writer, rtype: ResourceType, ns_obj: Obj) -> Obj:
    name = ns_obj["metadata"]["name"]
    if not ns_obj["metadata"].get("deletionTimestamp"):
        ns_obj = objects.write(
            rtype,
            {
                **ns_obj,
                "metadata": {**ns_obj["metadata"], "deletionTimestamp": objects.now()},
                "status": {"phase": "Terminating"},
            },
            ns_obj,
        )
    for storage, obj in list(objects.store.namespaces_in_use(name)):
        member = _type_for_storage(objects.registry, storage)
        if member is not None and not obj["metadata"].get("deletionTimestamp"):
            delete(objects, member, obj, None, dry_run=False)
    _maybe_finish_namespace(objects, name)
    return objects.store.get(_NAMESPACES, "", name) or ns_obj


def _maybe_finish_namespace(objects: Writer, namespace: str) -> None:
    ns_obj = objects.store.get(_NAMESPACES, "", namespace)
    if ns_obj is None or not ns_obj["metadata"].get("deletionTimestamp"):
        return
    if any(True for _ in objects.store.namespaces_in_use(namespace)):
        return
    if ns_obj["metadata"].get("finalizers"):
        return
    ns_type = objects.registry.lookup("", "v1", "namespaces")
    if ns_type is not None:
        finally_remove(objects, ns_type, ns_obj, ns_obj)


def _type_for_storage(registry: Registry, storage: str) -> ResourceType | None:
    return next((t for t in registry.all() if t.storage == storage and t.to_version is None), None)


def _drop_crd(objects: Writer, crd: Obj) -> None:
    """A deleted CRD takes its custom objects with it, then stops being served."""
    types = objects.registry.unregister_crd(crd["metadata"]["name"])
    if not types:
        return
    storage = types[0].storage
    for obj in list(objects.store.iter_objects(storage, None)):
        final = {
            **obj,
            "metadata": {**obj["metadata"], "resourceVersion": str(objects.store.next_rv())},
        }
        objects.store.remove(storage, final, obj)
