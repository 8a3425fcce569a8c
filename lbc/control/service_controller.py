"""The Service → NLB controller as the daemon runs it: informers, triggers, queue, reconciler.

Keys are ``namespace/name`` of Services. A Service event wakes its own key; a binding carrying
the Service stack labels changed or deleted wakes its stack (a generated binding deleted by
hand comes back). The Service informer keeps the builder's view, the uid (for events) and the
current ``status.loadBalancer.ingress`` (status is patched only when it differs); a change of
the status alone (lbc's own write) wakes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from lbc.control.keyed import KeyedController, informer_factory, retry_backoff
from lbc.control.service import SERVICE_KIND, ServiceReconciler
from lbc.control.stack_bindings import binding_handlers, observed_binding
from lbc.control.stack_reconcile import CachedObject, FlowFactory, cached_object, stack_workers
from lbc.core.stack.binding_changes import ObservedBinding
from lbc.core.stack.inputs import ServiceView
from lbc.core.stack.model import StackKind
from lbc.core.stack.views import service_view
from lbc.kube.client import SERVICES, TARGET_GROUP_BINDINGS, KubeClient
from lbc.kube.informer import EventHandlers, Informer
from lbc.settings import Settings

NAME: Final = "service"
PREFIX: Final = StackKind.SERVICE.value


ServiceEntry = CachedObject[ServiceView]
service_entry = cached_object(service_view)


def stack_of_labels(labels: Mapping[str, str]) -> str | None:
    """The Service stack (``namespace/name``) a binding's labels name."""
    ns, name = labels.get(f"{PREFIX}/stack-namespace"), labels.get(f"{PREFIX}/stack-name")
    return f"{ns}/{name}" if ns and name else None


class ServiceController(KeyedController[str]):
    """The NLB Services' controller (``lbc.app.Controller``)."""

    def __init__(self, settings: Settings, kube: KubeClient, flow_for: FlowFactory) -> None:
        super().__init__(NAME, concurrency=stack_workers(settings), backoff=retry_backoff(settings))
        ns = settings.watch_namespace
        informer = informer_factory(kube, settings.resync_period)
        self.services: Informer[ServiceEntry] = informer(SERVICES, service_entry, namespace=ns)
        self.stack_bindings: Informer[ObservedBinding] = informer(
            TARGET_GROUP_BINDINGS,
            observed_binding,
            namespace=ns,
            label_selector=f"{PREFIX}/stack-name",
        )
        self.informers = (self.services, self.stack_bindings)
        stores = (self.stack_bindings.store,)
        flow = flow_for(SERVICE_KIND, stores)
        self.reconciler = ServiceReconciler(
            flow,
            service_of=self._service_of,
        )
        self._wire()

    def _service_of(self, key: str) -> tuple[ServiceView, str, Any] | None:
        entry = self.services.store.get(key)
        return None if entry is None else (entry.view, entry.uid, entry.status)

    def _wire(self) -> None:
        def changed(key: str, old: ServiceEntry, new: ServiceEntry) -> None:
            if old.view != new.view:
                self.queue.add(key)

        self.services.add_handlers(
            EventHandlers(
                on_add=lambda key, _e: self.queue.add(key),
                on_update=changed,
                on_delete=lambda key, _e: self.queue.add(key),
            )
        )

        self.stack_bindings.add_handlers(binding_handlers(stack_of_labels, self.queue.add))

    def owned_keys(self) -> Iterable[str]:
        return self.services.store.keys()
