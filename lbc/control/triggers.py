"""Which bindings an object change wakes: informer handlers that enqueue binding keys.

Every lookup goes through an index of the binding store, never a scan of all bindings: a
cluster with thousands of bindings must not pay for each pod update thousands of times.

- EndpointSlice → the ip bindings of its Service (index ``service``: ``namespace/service``).
- Service → every binding of that Service.
- Node → the instance bindings (index ``target-type``) for which the node's suitability or
  readiness changed, with the reference controller's rule (a Ready change of a suitable node,
  or a suitability change while Ready was not False).
- Pod → the bindings its readiness gates name (``target-health.elbv2.k8s.aws/<binding>``),
  when the pod's view changed (the informer delivers only changes of what reconciles read).
- The binding itself, except for updates that only carry this process's own checkpoint write
  (or only a new resourceVersion/observedGeneration): those would wake a reconcile that has
  nothing to do.
- A ledger ConfigMap changed or deleted by someone other than this process → its binding.

Changes of a binding's inputs (EndpointSlice, Service, node) are also reported through
``changed``, after the start-up lists, so the reconciler can tell a rollout in flight from a
lone change (:class:`lbc.control.schedule.Rollouts`); the key is enqueued either way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Final

from lbc.control.entry import BindingEntry
from lbc.core.binding import Binding, TargetType
from lbc.core.desired import is_deletion_taint, matches_default_selector
from lbc.core.objects import FALSE, GATE_PREFIX, EndpointSliceView, NodeView, PodView
from lbc.kube.informer import EventHandlers
from lbc.kube.ledger import binding_of_ledger

SERVICE_INDEX: Final = "service"
TARGET_TYPE_INDEX: Final = "target-type"

Enqueue = Callable[[str], None]


def service_index(entry: BindingEntry) -> Iterable[str]:
    if entry.binding is None:
        return ()
    return (f"{entry.namespace}/{entry.binding.spec.service_name}",)


def target_type_index(entry: BindingEntry) -> Iterable[str]:
    if entry.binding is None or entry.binding.spec.target_type is None:
        return ()
    return (entry.binding.spec.target_type.value,)


BINDING_INDEXERS: Final = {SERVICE_INDEX: service_index, TARGET_TYPE_INDEX: target_type_index}


def _quiet(entry: BindingEntry) -> BindingEntry:
    """The entry with the fields a reconcile writes itself (status, checkpoint) blanked out."""
    binding = entry.binding
    if binding is not None:
        binding = dataclasses.replace(
            binding, resource_version="", checkpoint=None, observed_generation=0
        )
    return dataclasses.replace(
        entry,
        resource_version="",
        binding=binding,
        ready=None,
        counts=None,
        observed_generation=None,
    )


class Triggers:
    """Builds the informer handlers; ``enqueue`` takes a binding key ``namespace/name``."""

    def __init__(
        self,
        enqueue: Enqueue,
        bindings: Callable[[str, str], list[BindingEntry]],
        *,
        own_checkpoint: Callable[[str], str | None],
        own_ledger_version: Callable[[str, str], str | None],
        enqueue_low: Enqueue | None = None,
        initial: Callable[[], bool] = lambda: False,
        changed: Callable[[str], None] = lambda _key: None,
    ) -> None:
        self._enqueue_normal = enqueue
        self._changed = changed
        self._enqueue_low = enqueue_low or enqueue
        self._initial = initial
        self._by_index = bindings
        self._own_checkpoint = own_checkpoint
        self._own_ledger_version = own_ledger_version

    def _enqueue(self, key: str) -> None:
        # What the informers' initial lists deliver is the start-up sweep: low priority, so a
        # live change arriving meanwhile overtakes it (the queue promotes a re-added key).
        if self._initial():
            self._enqueue_low(key)
        else:
            self._enqueue_normal(key)

    def _input_changed(self, key: str) -> None:
        # A start-up list is no rollout: only live changes count towards one.
        if self._initial():
            self._enqueue_low(key)
        else:
            self._changed(key)
            self._enqueue_normal(key)

    # -- bindings ------------------------------------------------------------------------------

    def binding_handlers(self) -> EventHandlers[BindingEntry]:
        def on_update(key: str, old: BindingEntry, new: BindingEntry) -> None:
            if self.binding_update_matters(key, old, new):
                self._enqueue(key)

        return EventHandlers(
            on_add=lambda key, _new: self._enqueue(key),
            on_update=on_update,
            on_delete=lambda key, _old: self._enqueue(key),
        )

    def binding_update_matters(self, key: str, old: BindingEntry, new: BindingEntry) -> bool:
        if _quiet(old) != _quiet(new):
            return True
        if old.binding is None or new.binding is None:
            return False
        if old.binding.checkpoint == new.binding.checkpoint:
            return False
        # Only the checkpoint changed: ours needs no reconcile, anyone else's does.
        return new.binding.checkpoint != self._own_checkpoint(key)

    # -- services and slices -------------------------------------------------------------------

    def _wake_service(self, namespace: str, service: str, only: TargetType | None) -> None:
        for entry in self._by_index(SERVICE_INDEX, f"{namespace}/{service}"):
            spec = entry.binding.spec if entry.binding is not None else None
            if only is None or spec is None or spec.target_type is only:
                self._input_changed(entry.key)

    def slice_handlers(self) -> EventHandlers[EndpointSliceView]:
        def wake(_key: str, view: EndpointSliceView) -> None:
            if view.service_name:
                self._wake_service(view.namespace, view.service_name, TargetType.IP)

        def on_update(key: str, old: EndpointSliceView, new: EndpointSliceView) -> None:
            wake(key, new)
            if old.service_name != new.service_name:
                wake(key, old)

        return EventHandlers(on_add=wake, on_update=on_update, on_delete=wake)

    def service_handlers(self) -> EventHandlers[object]:
        def wake(key: str, _view: object) -> None:
            namespace, _, name = key.partition("/")
            self._wake_service(namespace, name, None)

        return EventHandlers(
            on_add=wake, on_update=lambda key, _old, new: wake(key, new), on_delete=wake
        )

    # -- nodes ---------------------------------------------------------------------------------

    def node_handlers(self) -> EventHandlers[NodeView]:
        return EventHandlers(
            on_add=lambda _key, new: self._node_changed(None, new),
            on_update=lambda _key, old, new: self._node_changed(old, new),
            on_delete=lambda _key, old: self._node_changed(old, None),
        )

    def _node_changed(self, old: NodeView | None, new: NodeView | None) -> None:
        for entry in self._by_index(TARGET_TYPE_INDEX, TargetType.INSTANCE.value):
            if entry.binding is not None and node_change_matters(entry.binding, old, new):
                self._input_changed(entry.key)

    # -- pods ----------------------------------------------------------------------------------

    def pod_handlers(self) -> EventHandlers[PodView]:
        def wake(_key: str, view: PodView) -> None:
            for gate in view.readiness_gates:
                if gate.startswith(GATE_PREFIX):
                    self._enqueue(f"{view.namespace}/{gate[len(GATE_PREFIX) :]}")

        return EventHandlers(
            on_add=wake, on_update=lambda key, _old, new: wake(key, new), on_delete=wake
        )

    # -- ledgers -------------------------------------------------------------------------------

    def ledger_handlers(self) -> EventHandlers[str | None]:
        """Handlers for the ConfigMap informer whose view is the resourceVersion of a ledger."""

        def wake(key: str, version: str | None) -> None:
            if version is None:
                return
            namespace, _, name = key.partition("/")
            binding = binding_of_ledger(name)
            if binding is not None and version != self._own_ledger_version(namespace, name):
                self._enqueue(f"{namespace}/{binding}")

        return EventHandlers(
            on_add=wake,
            on_update=lambda key, _old, new: wake(key, new),
            on_delete=wake,
        )


def node_suitable(binding: Binding, node: NodeView | None) -> bool:
    if node is None or not matches_default_selector(node.labels):
        return False
    selector = binding.spec.node_selector
    if selector is not None and not selector.matches(node.labels):
        return False
    return not any(is_deletion_taint(t) for t in node.taints)


def node_change_matters(binding: Binding, old: NodeView | None, new: NodeView | None) -> bool:
    """The reference controller's rule for waking an instance binding on a node change."""
    was, now = node_suitable(binding, old), node_suitable(binding, new)
    old_ready = old.ready if old is not None else FALSE
    new_ready = new.ready if new is not None else FALSE
    if was and now and old is not None and new is not None:
        return old_ready != new_ready or old.provider_id != new.provider_id
    if was:
        return old_ready != FALSE
    if now:
        return new_ready != FALSE
    return False
