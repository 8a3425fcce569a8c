"""The Ingress-group controller as the daemon runs it: informers, triggers, queue, reconciler.

Keys are group ids (:class:`~lbc.core.stack.model.StackId`). What wakes a group:

- an Ingress added, changed or deleted → its current group and every group whose finalizer it
  holds (``core.stack.ingress_groups.group_ids``; a claim error wakes the held groups only);
- a Service → every group with a member in its namespace (a backend's NodePort, UID or
  annotations are build inputs);
- an IngressClass, IngressClassParams or Namespace → every group (claiming inputs);
- a TargetGroupBinding carrying stack labels changed or deleted → its stack, so a generated
  binding deleted by hand comes back on the next reconcile (LBC #4880).

The informers run on standbys too (warm caches); only the leader's workers reconcile. Ingress
status and Service views are projected small: only what a build or a status comparison reads.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from lbc.control.ingress import INGRESS_KIND, IngressReconciler
from lbc.control.keyed import KeyedController, informer_factory, retry_backoff
from lbc.control.stack_bindings import binding_handlers, observed_binding
from lbc.control.stack_reconcile import CachedObject, FlowFactory, cached_object, stack_workers
from lbc.core.stack.binding_changes import ObservedBinding
from lbc.core.stack.ingress_groups import IngressCatalog, group_ids, pending_groups
from lbc.core.stack.inputs import IngressView
from lbc.core.stack.model import BuildError, StackId, StackKind
from lbc.core.stack.views import (
    ingress_class_params_view,
    ingress_class_view,
    ingress_view,
    namespace_view,
    service_view,
)
from lbc.kube.client import (
    INGRESS_CLASS_PARAMS,
    INGRESS_CLASSES,
    INGRESSES,
    NAMESPACES,
    SERVICES,
    TARGET_GROUP_BINDINGS,
    KubeClient,
)
from lbc.kube.informer import EventHandlers, Informer
from lbc.settings import Settings

NAME: Final = "ingress"
PREFIX: Final = StackKind.INGRESS.value


IngressEntry = CachedObject[IngressView]
"""The cached Ingress: the builders' view and its current load-balancer status."""
ingress_entry = cached_object(ingress_view)


def stack_of_labels(labels: Mapping[str, str]) -> StackId | None:
    """The Ingress stack a binding's labels name (``None``: not an Ingress stack's binding)."""
    explicit = labels.get(f"{PREFIX}/stack")
    if explicit:
        return StackId(StackKind.INGRESS, "", str(explicit))
    ns, name = labels.get(f"{PREFIX}/stack-namespace"), labels.get(f"{PREFIX}/stack-name")
    if ns and name:
        return StackId(StackKind.INGRESS, str(ns), str(name))
    return None


class IngressController(KeyedController[StackId]):
    """The Ingress groups' controller (``lbc.app.Controller``)."""

    def __init__(
        self,
        settings: Settings,
        kube: KubeClient,
        flow_for: FlowFactory,
    ) -> None:
        super().__init__(NAME, concurrency=stack_workers(settings), backoff=retry_backoff(settings))
        ns = settings.watch_namespace
        informer = informer_factory(kube, settings.resync_period)
        self.ingresses: Informer[IngressEntry] = informer(INGRESSES, ingress_entry, namespace=ns)
        self.classes = informer(INGRESS_CLASSES, ingress_class_view)
        self.params = informer(INGRESS_CLASS_PARAMS, ingress_class_params_view)
        self.namespaces = informer(NAMESPACES, namespace_view)
        self.services = informer(SERVICES, service_view, namespace=ns)
        self.implicit_bindings: Informer[ObservedBinding] = informer(
            TARGET_GROUP_BINDINGS,
            observed_binding,
            namespace=ns,
            label_selector=f"{PREFIX}/stack-name",
        )
        self.explicit_bindings: Informer[ObservedBinding] = informer(
            TARGET_GROUP_BINDINGS, observed_binding, namespace=ns, label_selector=f"{PREFIX}/stack"
        )
        self.informers = (
            self.ingresses,
            self.classes,
            self.params,
            self.namespaces,
            self.services,
            self.implicit_bindings,
            self.explicit_bindings,
        )
        self._ingress_class = settings.ingress_class
        stores = (self.implicit_bindings.store, self.explicit_bindings.store)
        flow = flow_for(INGRESS_KIND, stores)
        self.reconciler = IngressReconciler(
            flow,
            ingresses=lambda: [e.view for e in self.ingresses.store.values()],
            services=self.services.store.values,
            catalog=self.catalog,
            status_of=self._status_of,
        )
        self._wire()

    def catalog(self) -> IngressCatalog:
        return IngressCatalog(
            self.classes.store.values(), self.params.store.values(), self.namespaces.store.values()
        )

    def _status_of(self, key: str) -> Any:
        entry = self.ingresses.store.get(key)
        return None if entry is None else entry.status

    # -- triggers --------------------------------------------------------------------------------

    def _groups_of(self, view: IngressView) -> tuple[StackId, ...]:
        found = group_ids(view, self.catalog(), self._ingress_class)
        return pending_groups(view) if isinstance(found, BuildError) else found

    def _enqueue_ingress(self, entry: IngressEntry) -> None:
        for group in self._groups_of(entry.view):
            self.queue.add(group)

    def _enqueue_namespace(self, namespace: str) -> None:
        for entry in self.ingresses.store.values():
            if entry.view.namespace == namespace:
                self._enqueue_ingress(entry)

    def _enqueue_all(self) -> None:
        for entry in self.ingresses.store.values():
            self._enqueue_ingress(entry)

    def owned_keys(self) -> Iterator[StackId]:
        for entry in self.ingresses.store.values():
            yield from self._groups_of(entry.view)

    def _wire(self) -> None:
        def ingress_changed(_key: str, old: IngressEntry, new: IngressEntry) -> None:
            if old.view != new.view:  # a status-only change (ours) wakes nothing
                self._enqueue_ingress(old)
                self._enqueue_ingress(new)

        self.ingresses.add_handlers(
            EventHandlers(
                on_add=lambda _k, e: self._enqueue_ingress(e),
                on_update=ingress_changed,
                on_delete=lambda _k, e: self._enqueue_ingress(e),
            )
        )
        service: EventHandlers[Any] = EventHandlers(
            on_add=lambda _k, s: self._enqueue_namespace(s.namespace),
            on_update=lambda _k, _o, s: self._enqueue_namespace(s.namespace),
            on_delete=lambda _k, s: self._enqueue_namespace(s.namespace),
        )
        self.services.add_handlers(service)
        everything: EventHandlers[Any] = EventHandlers(
            on_add=lambda _k, _v: self._enqueue_all(),
            on_update=lambda _k, _o, _n: self._enqueue_all(),
            on_delete=lambda _k, _v: self._enqueue_all(),
        )
        for informer in (self.classes, self.params, self.namespaces):
            informer.add_handlers(everything)

        bindings = binding_handlers(stack_of_labels, self.queue.add)
        self.implicit_bindings.add_handlers(bindings)
        self.explicit_bindings.add_handlers(bindings)
