"""Object semantics: what a create, update, patch or delete does to the store.

This is where the lab earns its keep: uid and creationTimestamp on create, one increasing
resourceVersion, generation bumped on spec changes only, the status subresource kept apart,
optimistic concurrency (409 on a stale resourceVersion), finalizers holding a deleted object
with deletionTimestamp set, no-op updates that neither bump the version nor emit an event.

Everything here is synchronous (the store is single-threaded by construction: the event loop
is the only writer), so tests may call it directly for setup.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from lbc_lab.apiserver import builtin, crds, deletion, managed, names, patch as patching, schema
from lbc_lab.apiserver.listing import ListPage, list_page
from lbc_lab.apiserver.resources import Registry, ResourceType
from lbc_lab.apiserver.selectors import FieldSelector, LabelSelector
from lbc_lab.apiserver.status import (
    STALE,
    ApiError,
    Cause,
    CauseList,
    Qualified,
    already_exists,
    bad_request,
    conflict,
    not_found,
)
from lbc_lab.apiserver.store import Obj, Store

_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
#: Types whose create resets status (the real strategies' PrepareForCreate).
_RESET_STATUS_ON_CREATE = frozenset(
    {"pods", "services", "deployments.apps", "ingresses.networking.k8s.io"}
)
_NAMESPACES = "namespaces"
_NS_NAME_LABEL = "kubernetes.io/metadata.name"
_CRDS = "customresourcedefinitions.apiextensions.k8s.io"


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class WriteOptions:
    dry_run: bool = False
    field_manager: str = ""
    strict: bool = False
    force: bool = False
    #: Collects what the response's ``Warning`` headers report (pruned unknown fields).
    warnings: list[str] = field(default_factory=list, compare=False)


class Objects:
    """The API's object operations over one store and registry."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        *,
        clock: Callable[[], datetime] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self._clock = clock or (lambda: datetime.now(UTC))
        self._rng = rng or random.Random()

    # -- reads -------------------------------------------------------------------------------

    def get(self, rtype: ResourceType, namespace: str, name: str) -> Obj:
        obj = self.store.get(rtype.storage, namespace if rtype.namespaced else "", name)
        if obj is None:
            raise not_found(rtype.plural, rtype.group, name)
        return obj

    def list(
        self,
        rtype: ResourceType,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        *,
        limit: int = 0,
        token: str = "",
    ) -> ListPage:
        """One page of matching objects, in (namespace, name) order, as the stored dicts."""
        return list_page(self.store, rtype, namespace, labels, fields, limit=limit, token=token)

    # -- create ------------------------------------------------------------------------------

    def create(
        self,
        rtype: ResourceType,
        namespace: str,
        body: Any,
        *,
        options: WriteOptions | None = None,
        keep_status: bool = False,
        operation: str = "Update",
    ) -> Obj:
        """Create an object (201 semantics).

        ``keep_status`` keeps a given status where the real server would reset it (test setup
        only: pods that are already Running); ``operation`` is how managedFields records the
        write (``Apply`` when server-side apply creates).
        """
        options = options or WriteOptions()
        obj = self._incoming(rtype, body, namespace)
        touched = managed.paths_of(obj) if options.field_manager else set()
        meta = obj["metadata"]
        if not meta.get("name"):
            prefix = meta.get("generateName")
            if not prefix:
                causes = CauseList()
                causes.add(
                    "metadata.name",
                    "Required value: name or generateName is required",
                    "FieldValueRequired",
                )
                causes.raise_if_any(rtype.kind, rtype.group, "")
            suffix = "".join(self._rng.choice(_GENERATE_ALPHABET) for _ in range(5))
            meta["name"] = f"{prefix}{suffix}"
        name = meta["name"]
        if rtype.namespaced:
            self._require_namespace(meta["namespace"], creating=True)
        if self.store.get(rtype.storage, meta.get("namespace", ""), name) is not None:
            raise already_exists(rtype.plural, rtype.group, name)
        if meta.get("resourceVersion"):
            raise bad_request("resourceVersion should not be set on objects to be created")
        if rtype.storage == _NAMESPACES:
            obj["status"] = {"phase": "Active"}
        elif not keep_status and (
            rtype.storage in _RESET_STATUS_ON_CREATE
            or (rtype.custom and "status" in rtype.subresources)
        ):
            obj.pop("status", None)
            if rtype.storage == "pods":
                obj["status"] = {"phase": "Pending"}
        now = self.now()
        meta["uid"] = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        meta["creationTimestamp"] = now
        for server_owned in ("deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            meta.pop(server_owned, None)
        if rtype.tracks_generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        obj = self._admit(rtype, obj, options)
        if options.field_manager:
            obj["metadata"]["managedFields"], _ = managed.record(
                [],
                options.field_manager,
                operation=operation,
                api_version=rtype.api_version,
                now=now,
                touched=touched,
            )
        if options.dry_run:
            return obj
        return self.write(rtype, obj, None)

    # -- update ------------------------------------------------------------------------------

    def update(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        *,
        subresource: str = "",
        options: WriteOptions | None = None,
    ) -> Obj:
        options = options or WriteOptions()
        old = self.get(rtype, namespace, name)
        new = self._incoming(rtype, body, namespace)
        if new["metadata"].get("name", name) != name:
            raise bad_request(
                f"the name of the object ({new['metadata'].get('name')}) does not match the "
                f"name on the URL ({name})"
            )
        sent_rv = new["metadata"].get("resourceVersion")
        if sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
            raise conflict(rtype.plural, rtype.group, name, STALE)
        # Built-ins allow unconditional updates; custom resources insist on a version.
        if not sent_rv and rtype.custom:
            causes = CauseList()
            causes.add(
                "metadata.resourceVersion",
                "Invalid value: 0x0: must be specified for an update",
            )
            causes.raise_if_any(rtype.kind, rtype.group, name)
        return self._replace(rtype, old, new, subresource=subresource, options=options)

    def patch(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        *,
        patch_type: str,
        body: Any,
        subresource: str = "",
        options: WriteOptions | None = None,
    ) -> Obj:
        """Apply a patch of ``patch_type`` (``json``, ``merge``, ``strategic``, ``apply``)."""
        options = options or WriteOptions()
        old = self.store.get(rtype.storage, namespace if rtype.namespaced else "", name)
        if patch_type == "apply":
            return self._apply(
                rtype, namespace, name, old=old, body=body, subresource=subresource, options=options
            )
        if old is None:
            raise not_found(rtype.plural, rtype.group, name)
        current = rtype.present(old)
        if patch_type == "json":
            new = patching.json_patch(current, body)
        elif patch_type == "merge":
            if not isinstance(body, dict):
                raise bad_request("a merge patch must be a JSON object")
            new = patching.merge_patch(current, body)
        elif patch_type == "strategic":
            if rtype.custom:
                raise ApiError(
                    415,
                    "strategic merge patch is not supported for custom resources; use "
                    "application/merge-patch+json",
                )
            if not isinstance(body, dict):
                raise bad_request("a strategic merge patch must be a JSON object")
            new = patching.strategic_merge(current, body)
        else:
            raise ApiError(415, f"unsupported patch type {patch_type!r}")
        if not isinstance(new, dict):
            raise bad_request("the patched object is not a JSON object")
        sent_rv = (new.get("metadata") or {}).get("resourceVersion")
        if sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
            raise conflict(rtype.plural, rtype.group, name, STALE)
        return self._replace(
            rtype,
            old,
            self._incoming(rtype, new, namespace),
            subresource=subresource,
            options=options,
        )

    def _apply(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        *,
        old: Obj | None,
        body: Any,
        subresource: str,
        options: WriteOptions,
    ) -> Obj:
        if not options.field_manager:
            raise bad_request(
                'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
                "is required for apply patch"
            )
        if not isinstance(body, dict):
            raise bad_request("an applied configuration must be an object")
        body = self._incoming(rtype, body, namespace)
        if body["metadata"].get("name", name) != name:
            raise bad_request("the name of the applied object does not match the URL")
        body["metadata"]["name"] = name
        now = self.now()
        if old is None:
            if subresource:
                raise not_found(rtype.plural, rtype.group, name)
            return self.create(rtype, namespace, body, options=options, operation="Apply")
        sent_rv = body["metadata"].get("resourceVersion")
        if sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
            raise conflict(rtype.plural, rtype.group, name, STALE)
        touched = managed.paths_of(body)
        current = old["metadata"].get("managedFields") or []
        if not options.force:
            taken = managed.conflicts(
                current, options.field_manager, touched, rtype.present(old), body
            )
            if taken:
                raise apply_conflict(rtype, name, taken)
        entries, gone = managed.record(
            current,
            options.field_manager,
            operation="Apply",
            api_version=rtype.api_version,
            now=now,
            touched=touched,
        )
        merged = patching.apply_merge(rtype.present(old), body, gone)
        merged["metadata"] = {**merged["metadata"], "managedFields": entries}
        options = WriteOptions(
            dry_run=options.dry_run, strict=options.strict, warnings=options.warnings
        )
        return self._replace(rtype, old, merged, subresource=subresource, options=options)

    def _replace(
        self, rtype: ResourceType, old: Obj, new: Obj, *, subresource: str, options: WriteOptions
    ) -> Obj:
        """The common tail of update and patch: carry server-owned fields, admit, store."""
        old_meta = old["metadata"]
        if subresource == "status":
            if "status" not in rtype.subresources:
                raise not_found(rtype.plural, rtype.group, old_meta["name"])
            merged = {k: v for k, v in old.items() if k != "status"}
            if "status" in new:
                merged["status"] = new["status"]
            merged["metadata"] = dict(old_meta)
            new = merged
        elif subresource:
            raise not_found(rtype.plural, rtype.group, old_meta["name"])
        elif "status" in rtype.subresources:
            new = {k: v for k, v in new.items() if k != "status"}
            if "status" in old:
                new["status"] = old["status"]
        meta = dict(new.get("metadata") or {})
        for carried in (
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "namespace",
            "name",
        ):
            if carried in old_meta:
                meta[carried] = old_meta[carried]
            else:
                meta.pop(carried, None)
        if "managedFields" not in meta and "managedFields" in old_meta:
            meta["managedFields"] = old_meta["managedFields"]
        meta.pop("resourceVersion", None)
        new = {**new, "metadata": meta}
        if rtype.tracks_generation:
            generation = old_meta.get("generation", 1)
            if _spec_of(new, rtype) != _spec_of(old, rtype):
                generation += 1
            meta["generation"] = generation
        if old_meta.get("deletionTimestamp"):
            added = [
                f
                for f in meta.get("finalizers") or []
                if f not in (old_meta.get("finalizers") or [])
            ]
            if added:
                causes = CauseList()
                causes.add(
                    "metadata.finalizers",
                    "Forbidden: no new finalizers can be added if the object is being deleted, "
                    f"found new finalizers []string{{{', '.join(repr(a) for a in added)}}}",
                    "FieldValueForbidden",
                )
                causes.raise_if_any(rtype.kind, rtype.group, old_meta["name"])
        new = self._admit(rtype, new, options, old)
        if options.field_manager:
            touched = managed.changed_paths(rtype.present(old), new)
            if touched:
                new["metadata"]["managedFields"], _ = managed.record(
                    meta.get("managedFields") or [],
                    options.field_manager,
                    operation="Update",
                    api_version=rtype.api_version,
                    now=self.now(),
                    touched=touched,
                )
        comparable_old = {
            **old,
            "metadata": {k: v for k, v in old_meta.items() if k != "resourceVersion"},
        }
        if new == comparable_old:
            return old  # a no-op write: no new resourceVersion, no event
        if options.dry_run:
            return {
                **new,
                "metadata": {**new["metadata"], "resourceVersion": old_meta["resourceVersion"]},
            }
        if old_meta.get("deletionTimestamp") and not meta.get("finalizers"):
            return deletion.finally_remove(self, rtype, new, old)
        return self.write(rtype, new, old)

    # -- delete ------------------------------------------------------------------------------

    def delete(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        options: Obj | None = None,
        *,
        dry_run: bool = False,
    ) -> Obj:
        """Delete, or mark deleting while finalizers remain; returns the object's last state."""
        return deletion.delete(
            self, rtype, self.get(rtype, namespace, name), options, dry_run=dry_run
        )

    def now(self) -> str:
        return timestamp(self._clock())

    def _incoming(self, rtype: ResourceType, body: Any, namespace: str) -> Obj:
        """A private, storage-shaped copy of a request body, checked for kind and namespace."""
        if not isinstance(body, dict):
            raise bad_request("the body of the request is not a JSON object")
        # A JSON round trip is an order of magnitude faster than copy.deepcopy, and the
        # bodies are JSON by definition.
        obj: Obj = orjson.loads(orjson.dumps(body))
        if rtype.from_version is not None:
            obj = rtype.from_version(obj)
        kind = obj.get("kind")
        if kind and kind != rtype.kind:
            raise bad_request(
                f"the API version in the data ({obj.get('apiVersion')}) does not match the "
                f"expected API version ({rtype.api_version})"
                if obj.get("apiVersion") not in (None, rtype.api_version)
                else f'{kind} in version "{rtype.version}" cannot be handled as a {rtype.kind}'
            )
        obj["kind"] = rtype.kind
        obj["apiVersion"] = "v1" if rtype.from_version is not None else rtype.api_version
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        if rtype.namespaced:
            sent = meta.get("namespace")
            if sent and namespace and sent != namespace:
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request"
                )
            meta["namespace"] = sent or namespace
            if not meta["namespace"]:
                raise bad_request("a namespace is required for a namespaced resource")
        else:
            meta.pop("namespace", None)
        return obj

    def _admit(
        self, rtype: ResourceType, obj: Obj, options: WriteOptions, old: Obj | None = None
    ) -> Obj:
        """Validate names and labels, apply the CRD schema (default, prune, validate); built-in
        kinds get their own admission (``builtin``; ``old`` None means a create)."""
        meta = obj["metadata"]
        if not rtype.custom:
            builtin.mutate(rtype.storage, obj, old, lambda s: self.store.iter_objects(s, None))
        # Built-in defaulting the real server does that clients come to rely on.
        if rtype.storage == _NAMESPACES:
            meta["labels"] = {**(meta.get("labels") or {}), _NS_NAME_LABEL: meta["name"]}
        elif rtype.storage == "secrets" and not obj.get("type"):
            obj["type"] = "Opaque"
        causes = CauseList()
        names.check_name(rtype.name_rule, meta["name"], causes)
        names.check_labels(meta.get("labels"), causes)
        if rtype.schema is not None:
            obj = schema.apply_defaults(rtype.schema, obj)
            dropped: list[str] = []
            obj = schema.prune(rtype.schema, obj, "", dropped)
            if dropped and options.strict:
                raise bad_request(
                    f'{rtype.kind} in version "{rtype.version}" cannot be handled as a '
                    f"{rtype.kind}: strict decoding error: "
                    + ", ".join(f'unknown field "{d}"' for d in dropped)
                )
            options.warnings.extend(f'unknown field "{d}"' for d in dropped)
            if rtype.custom:
                schema.validate(rtype.schema, obj, "", causes)
            else:
                obj = builtin.decode(rtype.kind, rtype.version, rtype.schema, obj)
        if not rtype.custom:
            builtin.validate(rtype.storage, obj, old, causes)
        if rtype.storage == _CRDS:
            crds.validate(obj, causes)
        causes.raise_if_any(rtype.kind, rtype.group, meta["name"])
        if rtype.storage == _CRDS:
            obj = crds.with_status(obj)
        return obj

    def _require_namespace(self, namespace: str, *, creating: bool) -> None:
        ns_obj = self.store.get(_NAMESPACES, "", namespace)
        if ns_obj is None:
            raise not_found("namespaces", "", namespace)
        if creating and ns_obj["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                f"unable to create new content in namespace {namespace} because it is being "
                "terminated",
                reason="Forbidden",
                about=Qualified(namespace, "", "namespaces"),
            )

    def write(self, rtype: ResourceType, obj: Obj, old: Obj | None) -> Obj:
        """Stamp the next resourceVersion on ``obj`` and store it (CRDs also register)."""
        obj = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self.store.next_rv())}}
        if rtype.storage == _CRDS:
            self.registry.register_crd(obj)
        self.store.put(rtype.storage, obj, old)
        return obj


def apply_conflict(rtype: ResourceType, name: str, taken: list[tuple[str, str, str]]) -> ApiError:
    """409 for a non-forced apply taking fields from other managers (the real wording)."""
    causes = tuple(
        Cause(field, f'conflict with "{manager}" using {api_version}', "FieldManagerConflict")
        for field, manager, api_version in taken
    )
    if len(causes) == 1:
        detail = f"Apply failed with 1 conflict: {causes[0].message}: {causes[0].field}"
    else:
        lines = "\n".join(f"- {c.message}: {c.field}" for c in causes)
        detail = f"Apply failed with {len(causes)} conflicts:\n{lines}"
    return ApiError(
        409,
        detail,
        about=Qualified(name, rtype.group, rtype.plural),
        causes=causes,
    )


def _spec_of(obj: Obj, rtype: ResourceType) -> Obj:
    """What a generation counts: everything but metadata (and status when it is separate)."""
    skip = (
        {"metadata", "status"} if ("status" in rtype.subresources or rtype.custom) else {"metadata"}
    )
    return {k: v for k, v in obj.items() if k not in skip}
