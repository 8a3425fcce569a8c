"""The reconciler's writes to Kubernetes: finalizers, checkpoint, pod conditions, status.

Every write here is a merge or strategic-merge patch with an explicit content type. Finalizer
changes carry the resourceVersion they were decided on, so a concurrent change of the list is a
409 and the reconcile starts over instead of dropping someone else's finalizer. Status is
written only when it changes, and ``lastTransitionTime`` moves only when the condition's status
does. A binding or pod that disappeared meanwhile is not an error: there is nothing left to
write on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from lbc.control.entry import BindingEntry, TargetCounts
from lbc.core.binding import Binding
from lbc.core.checkpoint import CHECKPOINT_ANNOTATION
from lbc.core.errors import NotFoundError, TerminalError
from lbc.core.gates import PodConditionChange
from lbc.core.objects import PodView
from lbc.kube.client import PODS, TARGET_GROUP_BINDINGS, KubeClient, PatchType
from lbc.kube.events import ObjectRef
from lbc.kube.informer import Store
from lbc.observe.log import get_logger

CHECKPOINT: Final = CHECKPOINT_ANNOTATION
CHECKPOINT_TIMESTAMP: Final = "elbv2.k8s.aws/checkpoint-timestamp"

log = get_logger("lbc.control.writes")


def now_iso(wall: Callable[[], datetime]) -> str:
    return wall().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class NetworkingStatus(Protocol):
    """What the binding's status needs of the networking controller (its ``NetworkingReady``).

    A port, so that the binding controller never imports the networking controller (an import
    contract holds it): the app wires one to the other.
    """

    def status_current(self, key: str) -> bool: ...

    def status_condition(self, key: str, *, now: str, generation: int) -> dict[str, Any] | None: ...

    def written(self, key: str) -> None: ...


class BindingWrites:
    """Writes on bindings and their pods; remembers the checkpoints it wrote (for triggers)."""

    def __init__(
        self,
        kube: KubeClient,
        pods: Store[PodView],
        *,
        wall: Callable[[], datetime],
        networking: NetworkingStatus | None = None,
    ) -> None:
        self._kube = kube
        self._pods = pods
        self._wall = wall
        self._networking = networking
        self._checkpoints: dict[str, str] = {}

    def own_checkpoint(self, key: str) -> str | None:
        """The checkpoint value this process last wrote on binding ``key``."""
        return self._checkpoints.get(key)

    def forget(self, key: str) -> None:
        self._checkpoints.pop(key, None)

    def ref(self, entry: BindingEntry) -> ObjectRef:
        return entry.ref

    async def _patch_binding(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        """Merge-patch the binding's metadata; a binding already gone needs nothing."""
        try:
            await self._kube.patch(
                TARGET_GROUP_BINDINGS, name, patch, namespace, patch_type=PatchType.MERGE
            )
        except NotFoundError:
            return

    async def set_finalizers(self, entry: BindingEntry, finalizers: tuple[str, ...]) -> None:
        meta = {"finalizers": list(finalizers), "resourceVersion": entry.resource_version}
        await self._patch_binding(entry.namespace, entry.name, {"metadata": meta})

    async def set_checkpoint(self, binding: Binding, value: str) -> None:
        stamp = str(int(self._wall().timestamp()))
        self._checkpoints[binding.key] = value
        annotations = {CHECKPOINT: value, CHECKPOINT_TIMESTAMP: stamp}
        await self._patch_binding(
            binding.namespace, binding.name, {"metadata": {"annotations": annotations}}
        )

    async def set_pod_condition(self, change: PodConditionChange) -> None:
        current = self._pods.get(f"{change.namespace}/{change.name}")
        cond = change.condition
        body: dict[str, Any] = {
            "type": cond.type,
            "status": cond.status,
            "reason": cond.reason,
            "message": cond.message,
        }
        before = current.condition(cond.type) if current is not None else None
        if before is None or before.status != cond.status:
            body["lastTransitionTime"] = now_iso(self._wall)
        patch = {"metadata": {"uid": change.uid}, "status": {"conditions": [body]}}
        try:
            await self._kube.patch(
                PODS,
                change.name,
                patch,
                change.namespace,
                patch_type=PatchType.STRATEGIC,
                subresource="status",
            )
        except NotFoundError:
            return  # the pod is gone; nothing to gate
        except TerminalError as exc:
            log.info(
                "pod_condition_skipped", pod=f"{change.namespace}/{change.name}", error=str(exc)
            )

    async def write_status(
        self,
        entry: BindingEntry,
        ready: tuple[str, str, str],
        counts: TargetCounts | None,
    ) -> None:
        status, reason, message = ready
        old = entry.ready
        unchanged = (
            old is not None
            and (old.status, old.reason, old.message) == ready
            and old.observed_generation == entry.generation
            and entry.observed_generation == entry.generation
            and (counts is None or entry.counts == counts)
            and (self._networking is None or self._networking.status_current(entry.key))
        )
        if unchanged:
            return
        since = (
            old.last_transition_time
            if old is not None and old.status == status and old.last_transition_time
            else now_iso(self._wall)
        )
        body: dict[str, Any] = {
            "observedGeneration": entry.generation,
            "conditions": [
                {
                    "type": "Ready",
                    "status": status,
                    "reason": reason,
                    "message": message[:32768],
                    "lastTransitionTime": since,
                    "observedGeneration": entry.generation,
                }
            ],
        }
        if counts is not None:
            body["targets"] = {
                "desired": counts.desired,
                "registered": counts.registered,
                "healthy": counts.healthy,
            }
        # A merge patch replaces the whole list: NetworkingReady must ride along with Ready.
        networking = (
            None
            if self._networking is None
            else self._networking.status_condition(
                entry.key, now=now_iso(self._wall), generation=entry.generation
            )
        )
        if networking is not None:
            body["conditions"].append(networking)
        try:
            await self._kube.patch_status(
                TARGET_GROUP_BINDINGS,
                entry.name,
                {"status": body},
                entry.namespace,
                patch_type=PatchType.MERGE,
            )
        except NotFoundError:
            return
        if self._networking is not None:
            self._networking.written(entry.key)
