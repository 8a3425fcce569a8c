"""The Service → NLB controller as the daemon runs it: informers, triggers, queue, reconciler.

Keys are ``namespace/name`` of Services. A Service event wakes its own key; a binding carrying
the Service stack labels changed or deleted wakes its stack (a generated binding deleted by
hand comes back). The Service informer keeps the builder's view, the uid (for events) and the
current ``status.loadBalancer.ingress`` (status is patched only when it differs); a change of
the status alone (lbc's own write) wakes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from lbc.control.keyed import KeyedController
from lbc.control.service import ServiceReconciler
from lbc.control.stack_bindings import StackBindings, observed_binding
from lbc.control.stack_reconcile import stack_config
from lbc.control.stackdeploy import StackDeployer
from lbc.core.stack.binding_changes import ObservedBinding
from lbc.core.stack.inputs import ServiceView
from lbc.core.stack.model import StackKind
from lbc.core.stack.views import service_view
from lbc.kube.client import SERVICES, TARGET_GROUP_BINDINGS, KubeClient
from lbc.kube.events import EventRecorder
from lbc.kube.informer import EventHandlers, Informer
from lbc.settings import Settings

NAME: Final = "service"
PREFIX: Final = StackKind.SERVICE.value


@dataclass(frozen=True, slots=True)
class ServiceEntry:
    view: ServiceView
    uid: str
    status: Any


def service_entry(obj: dict[str, Any]) -> ServiceEntry:
    status = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress")
    uid = str((obj.get("metadata") or {}).get("uid", ""))
    return ServiceEntry(service_view(obj), uid, status)


class ServiceController(KeyedController[str]):
    """The NLB Services' controller (``lbc.app.Controller``)."""

    def __init__(
        self, settings: Settings, kube: KubeClient, deployer_for: Any, events: EventRecorder
    ) -> None:
        super().__init__(
            NAME,
            concurrency=max(1, min(settings.workers, 4)),
            backoff_base=settings.backoff_base,
            backoff_max=settings.backoff_max,
        )
        ns = settings.watch_namespace

        def informer(resource: Any, project: Any, **kw: Any) -> Informer[Any]:
            return Informer(
                kube, resource, project, resync_period=settings.resync_period, page_size=500, **kw
            )

        self.services: Informer[ServiceEntry] = informer(SERVICES, service_entry, namespace=ns)
        self.stack_bindings: Informer[ObservedBinding] = informer(
            TARGET_GROUP_BINDINGS,
            observed_binding,
            namespace=ns,
            label_selector=f"{PREFIX}/stack-name",
        )
        self.informers = (self.services, self.stack_bindings)
        self.bindings = StackBindings(kube, (self.stack_bindings.store,))
        self.deployer: StackDeployer = deployer_for(self.bindings)
        self.reconciler = ServiceReconciler(
            kube=kube,
            deployer=self.deployer,
            bindings=self.bindings,
            events=events,
            config=stack_config(settings),
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

        def binding_event(view: ObservedBinding) -> None:
            ns = view.labels.get(f"{PREFIX}/stack-namespace")
            name = view.labels.get(f"{PREFIX}/stack-name")
            if ns and name:
                self.queue.add(f"{ns}/{name}")

        def binding_changed(_key: str, old: ObservedBinding, new: ObservedBinding) -> None:
            if (old.spec, old.labels, old.refused) != (new.spec, new.labels, new.refused):
                binding_event(new)

        bindings: EventHandlers[ObservedBinding] = EventHandlers(
            on_update=binding_changed, on_delete=lambda _k, view: binding_event(view)
        )
        self.stack_bindings.add_handlers(bindings)

    def owned_keys(self) -> Iterable[str]:
        return self.services.store.keys()
