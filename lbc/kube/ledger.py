"""The ledger ConfigMap (``aws-lbc-targets-<binding>``) as the reconciler reads and writes it.

The format of the ``targets`` key belongs to :mod:`lbc.core.ledger` (LBC-compatible). This module
adds what the API server needs for safety:

- **Fresh reads.** :meth:`Ledgers.read` GETs the ConfigMap from the API server every time (no
  cache): the decision to deregister a target rests on it, and a watch cache may lag behind a
  write made a moment ago by this very process.
- **Optimistic concurrency.** Every update carries the resourceVersion the decision was based
  on; a concurrent writer turns the write into a 409 :class:`~lbc.core.errors.ConflictError`,
  and the reconcile starts over from fresh reads. LBC writes unconditionally; lbc never does.
- **Bytes-unchanged writes are skipped**: the reconciler only asks for a write when the set
  changes, and :meth:`Ledgers.write` compares the encoded value as well.
- lbc adds labels (``app.kubernetes.io/managed-by: lbc``) and an ownerReference to the binding;
  LBC ignores both, and keeps working with the ConfigMap after a migration back. The owner
  reference lets the garbage collector remove a ledger whose binding vanished without lbc (its
  finalizer removed by hand). One caveat: a foreground-cascading deletion of the binding lets
  the collector delete the ledger before lbc's cleanup runs; cleanup then falls back to the
  binding's current endpoints (``core.plan``'s "guarded without a ledger" rule), so targets
  that were no longer desired may stay registered (LBC leaks in the same situation).

Writes record the resourceVersion they produced (:meth:`Ledgers.written_version`), so the
trigger on ConfigMap changes can tell this process's own writes from someone else's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from lbc.core.binding import Binding
from lbc.core.errors import ConflictError, NotFoundError
from lbc.core.ledger import (
    DATA_KEY,
    PREFIX,
    LedgerNameTooLongError,
    LedgerState,
    configmap_name,
    encode,
    ledger_state,
)
from lbc.core.targets import Target
from lbc.kube.client import CONFIG_MAPS, TARGET_GROUP_BINDINGS, KubeClient, PatchType
from lbc.observe.metrics import counter, gauge

MANAGED_BY: Final = "app.kubernetes.io/managed-by"
BINDING_LABEL: Final = "elbv2.k8s.aws/target-group-binding"

LEDGER_WRITES = counter(
    "lbc_ledger_writes_total",
    "Writes of ledger ConfigMaps, by operation (create, update, delete) and outcome "
    "(success, conflict, error, absent).",
    ["operation", "outcome"],
)
LEDGER_BYTES = gauge(
    "lbc_ledger_bytes", "Size in bytes of the targets value of the last ledger written."
)


def _outcome(exc: Exception) -> str:
    """The metric outcome of a failed write: lost races are counted apart from errors."""
    return "conflict" if isinstance(exc, ConflictError) else "error"


def binding_of_ledger(name: str) -> str | None:
    """The binding name a ConfigMap name belongs to, if it is a ledger's name."""
    if name.startswith(PREFIX) and len(name) > len(PREFIX):
        return name[len(PREFIX) :]
    return None


class Ledgers:
    """Reads and writes ledgers through the API server (one per process)."""

    def __init__(self, client: KubeClient) -> None:
        self._client = client
        self._written: dict[str, str] = {}

    def written_version(self, namespace: str, name: str) -> str | None:
        """The resourceVersion of this process's last write of ConfigMap ``namespace/name``."""
        return self._written.get(f"{namespace}/{name}")

    async def read(self, binding: Binding) -> tuple[LedgerState, str | None]:
        """The ledger state and the encoded value as stored (``None`` when absent).

        A binding whose name is too long for a ledger can never have one: absent (``plan()``
        refuses to guard such a binding and says why).
        """
        try:
            name = configmap_name(binding.name)
        except LedgerNameTooLongError:
            return ledger_state(None), None
        try:
            obj = await self._client.get(CONFIG_MAPS, name, binding.namespace)
        except NotFoundError:
            return ledger_state(None), None
        data = obj.get("data")
        data = data if isinstance(data, Mapping) else {}
        rv = str(obj.get("metadata", {}).get("resourceVersion", ""))
        value = data.get(DATA_KEY)
        return ledger_state(data, rv), value if isinstance(value, str) else None

    async def write(
        self,
        binding: Binding,
        targets: frozenset[Target],
        *,
        resource_version: str | None,
        current_value: str | None,
    ) -> str:
        """Create (``resource_version is None``) or update the ledger; returns the new version.

        An update is conditional on ``resource_version``; a concurrent change raises
        ``ConflictError``. When the encoded value equals ``current_value`` nothing is written.
        """
        name = configmap_name(binding.name)
        value = encode(targets)
        if resource_version is not None and value == current_value:
            return resource_version
        if resource_version is None:
            obj = self._object(binding, name, value)
            try:
                created = await self._client.create(CONFIG_MAPS, obj, binding.namespace)
            except Exception as exc:
                LEDGER_WRITES.labels("create", _outcome(exc)).inc()
                raise
            LEDGER_WRITES.labels("create", "success").inc()
            rv = str(created["metadata"]["resourceVersion"])
        else:
            patch = {
                "metadata": {
                    "resourceVersion": resource_version,
                    "labels": {MANAGED_BY: "lbc"},
                },
                "data": {DATA_KEY: value},
            }
            try:
                updated = await self._client.patch(
                    CONFIG_MAPS, name, patch, binding.namespace, patch_type=PatchType.MERGE
                )
            except Exception as exc:
                LEDGER_WRITES.labels("update", _outcome(exc)).inc()
                raise
            LEDGER_WRITES.labels("update", "success").inc()
            rv = str(updated["metadata"]["resourceVersion"])
        LEDGER_BYTES.set(len(value))
        self._written[f"{binding.namespace}/{name}"] = rv
        return rv

    async def delete(self, binding: Binding, *, resource_version: str | None) -> None:
        """Delete the ledger (absent is fine); conditional on ``resource_version`` when given."""
        name = configmap_name(binding.name)
        try:
            await self._client.delete(
                CONFIG_MAPS, name, binding.namespace, resource_version=resource_version
            )
        except NotFoundError:
            LEDGER_WRITES.labels("delete", "absent").inc()
            return
        except Exception as exc:
            LEDGER_WRITES.labels("delete", _outcome(exc)).inc()
            raise
        LEDGER_WRITES.labels("delete", "success").inc()
        self._written.pop(f"{binding.namespace}/{name}", None)

    @staticmethod
    def _object(binding: Binding, name: str, value: str) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "name": name,
            "namespace": binding.namespace,
            "labels": {MANAGED_BY: "lbc"},
            "annotations": {BINDING_LABEL: binding.name},
        }
        if binding.uid:
            meta["ownerReferences"] = [
                {
                    "apiVersion": TARGET_GROUP_BINDINGS.api_version,
                    "kind": TARGET_GROUP_BINDINGS.kind,
                    "name": binding.name,
                    "uid": binding.uid,
                    "blockOwnerDeletion": False,
                    "controller": False,
                }
            ]
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta,
            "data": {DATA_KEY: value},
        }
