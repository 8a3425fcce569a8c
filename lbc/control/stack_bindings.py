"""The stack's generated TargetGroupBindings on the Kubernetes side: list, write, delete, wait.

Bindings are read from the stack controller's informers (only bindings carrying a stack label
are cached), paired and diffed by :mod:`lbc.core.stack.binding_changes`, and written with the
plain client. Deletions wait until the object is gone (200 ms poll, 60 s, as LBC): the binding
controller deregisters this cluster's targets and removes its finalizer meanwhile, and the target
group must not be deleted under it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Final, TypeVar

import anyio

from lbc.core.errors import NotFoundError, TransientError
from lbc.core.stack.binding_changes import (
    BindingChanges,
    ObservedBinding,
    binding_object,
    plan_bindings,
)
from lbc.core.stack.model import Stack, TargetGroupBinding
from lbc.kube.client import TARGET_GROUP_BINDINGS, KubeClient, PatchType
from lbc.kube.informer import EventHandlers, Store
from lbc.observe.log import get_logger

_log = get_logger("lbc.stacks")

GONE_POLL: Final = 0.2
GONE_BUDGET: Final = 60.0


REFUSED: Final = "MultiClusterDisableRefused"


def observed_binding(obj: dict[str, Any]) -> ObservedBinding:
    """The informer's projection of a binding with stack labels."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    refused = next(
        (
            str(c.get("message", ""))
            for c in (obj.get("status") or {}).get("conditions") or ()
            if c.get("type") == "Ready" and c.get("reason") == REFUSED
        ),
        "",
    )
    return ObservedBinding(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        target_group_arn=str(spec.get("targetGroupARN", "")),
        spec=spec,
        labels=dict(meta.get("labels") or {}),
        annotations=dict(meta.get("annotations") or {}),
        uid=str(meta.get("uid", "")),
        refused=refused,
    )


K = TypeVar("K")


def binding_handlers(
    stack_of: Callable[[Mapping[str, str]], K | None], wake: Callable[[K], None]
) -> EventHandlers[ObservedBinding]:
    """Handlers waking the stack a binding's labels name (``stack_of``) when the binding changed
    or was deleted, so a generated binding deleted by hand comes back (LBC #4880); the binding
    controller's own status writes wake nothing."""

    def binding_event(view: ObservedBinding) -> None:
        stack = stack_of(view.labels)
        if stack is not None:
            wake(stack)

    def binding_changed(_key: str, old: ObservedBinding, new: ObservedBinding) -> None:
        if (old.spec, old.labels, old.refused) != (new.spec, new.labels, new.refused):
            binding_event(new)

    return EventHandlers(on_update=binding_changed, on_delete=lambda _k, view: binding_event(view))


class StackBindings:
    """Bindings of stacks, read from ``stores`` and written through ``kube``."""

    def __init__(
        self,
        kube: KubeClient,
        stores: Sequence[Store[ObservedBinding]],
        *,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        gone_budget: float = GONE_BUDGET,
    ) -> None:
        self._kube = kube
        self._stores = tuple(stores)
        self._sleep = sleep
        self._gone_budget = gone_budget

    def of(self, stack: Stack) -> list[ObservedBinding]:
        """Bindings carrying exactly this stack's labels (values included)."""
        labels = dict(stack.id.binding_labels())
        found: dict[str, ObservedBinding] = {}
        for store in self._stores:
            for view in store.values():
                if all(view.labels.get(k) == v for k, v in labels.items()):
                    found[view.key] = view
        return [found[k] for k in sorted(found)]

    def changes(
        self, stack: Stack, wanted: Sequence[tuple[TargetGroupBinding, Mapping[str, Any]]]
    ) -> BindingChanges:
        return plan_bindings(wanted, self.of(stack))

    async def apply(
        self, stack: Stack, wanted: Sequence[tuple[TargetGroupBinding, Mapping[str, Any]]]
    ) -> bool:
        """Create and update the wanted bindings (a stale one holding a wanted name goes first)."""
        changes = self.changes(stack, wanted)
        for stale in changes.stale:
            _log.info("stale_binding_deleted", stack_id=stack.id.value, binding=stale.key)
            await self.delete_and_wait([stale])
        for write in changes.writes:
            desired = write.desired
            if write.existing is None:
                await self._kube.create(
                    TARGET_GROUP_BINDINGS, binding_object(desired, write.spec), desired.namespace
                )
                _log.info(
                    "binding_created",
                    stack_id=stack.id.value,
                    binding=f"{desired.namespace}/{desired.name}",
                )
            else:
                await self._kube.patch(
                    TARGET_GROUP_BINDINGS,
                    write.existing.name,
                    write.patch(),
                    write.existing.namespace,
                    patch_type=PatchType.MERGE,
                )
                _log.info("binding_updated", stack_id=stack.id.value, binding=write.existing.key)
        return bool(changes.stale or changes.writes)

    async def delete_unwanted(self, stack: Stack, keep_arns: Iterable[str]) -> bool:
        keep = frozenset(keep_arns)
        unwanted = [b for b in self.of(stack) if b.target_group_arn not in keep]
        if unwanted:
            await self.delete_and_wait(unwanted)
        return bool(unwanted)

    async def delete_and_wait(self, bindings: Sequence[ObservedBinding]) -> None:
        for binding in bindings:
            try:
                await self._kube.delete(
                    TARGET_GROUP_BINDINGS, binding.name, binding.namespace, uid=binding.uid or None
                )
            except NotFoundError:
                continue
            _log.info("binding_deleted", binding=binding.key)
        waited = 0.0
        for binding in bindings:
            while True:
                try:
                    found = await self._kube.get(
                        TARGET_GROUP_BINDINGS, binding.name, binding.namespace
                    )
                except NotFoundError:
                    break
                if str((found.get("metadata") or {}).get("uid", "")) != binding.uid:
                    break  # a new object with the same name: the old one is gone
                if waited >= self._gone_budget:
                    raise TransientError(
                        f"binding {binding.key} still exists {self._gone_budget:g}s after its "
                        "deletion (its finalizer is held)",
                        reason="BindingDeletionPending",
                    )
                await self._sleep(GONE_POLL)
                waited += GONE_POLL
