"""The binding controller as the daemon runs it: informers, triggers, queue and reconciler.

:func:`binding_controllers` is the daemon's controller factory (``lbc.app``): it opens the AWS
clients, builds the informers of everything a binding reads (bindings, Services,
EndpointSlices, pods, nodes, and ledger ConfigMaps as resourceVersions only), wires their
handlers to the work queue through :mod:`lbc.control.triggers`, and yields one
:class:`BindingController`. The informers run on standbys too, so a new leader starts with warm
caches; only the leader's workers reconcile.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final

from lbc.aws.adapter import open_aws
from lbc.aws.elbv2 import TargetGroups
from lbc.aws.roles import role_of
from lbc.aws.securitygroups import SecurityGroups
from lbc.control.bindings import POD_GATE_INDEX, SLICE_SERVICE_INDEX, BindingReconciler
from lbc.control.entry import BindingEntry, binding_entry
from lbc.control.keyed import KeyedController, informer_factory, retry_backoff
from lbc.control.networking import NetworkingController
from lbc.control.triggers import BINDING_INDEXERS, Triggers
from lbc.core.ledger import PREFIX
from lbc.core.objects import GATE_PREFIX, EndpointSliceView, PodView
from lbc.kube.client import (
    CONFIG_MAPS,
    ENDPOINT_SLICES,
    NODES,
    PODS,
    SERVICES,
    TARGET_GROUP_BINDINGS,
    KubeClient,
)
from lbc.kube.events import EventRecorder
from lbc.kube.informer import Informer
from lbc.kube.ledger import Ledgers
from lbc.kube.podwatch import pod_watch_event
from lbc.kube.views import endpoint_slice_view, node_view, pod_view, service_view
from lbc.settings import Settings

NAME: Final = "targetGroupBinding"


def slice_service_index(view: EndpointSliceView) -> Iterable[str]:
    return (f"{view.namespace}/{view.service_name}",) if view.service_name else ()


def pod_gate_index(view: PodView) -> Iterable[str]:
    return tuple(
        f"{view.namespace}/{gate[len(GATE_PREFIX) :]}"
        for gate in view.readiness_gates
        if gate.startswith(GATE_PREFIX)
    )


def ledger_version(obj: dict[str, Any]) -> str | None:
    """A ConfigMap's view: its resourceVersion when it is a ledger, else nothing at all."""
    meta = obj.get("metadata") or {}
    if str(meta.get("name", "")).startswith(PREFIX):
        return str(meta.get("resourceVersion", ""))
    return None


def fleet_busy(settings: Settings) -> int:
    """Bindings changed within one settling window from which a lone change is held too.

    As many as the mutating rate limit serves in one window (20 at the defaults): fewer are
    all served within the window anyway, more queue behind the limit whatever the order.
    """
    return max(1, math.ceil(settings.aws_calls_per_second * settings.rollout_settle_window))


class BindingController(KeyedController[str]):
    """The TargetGroupBindings' controller (``lbc.app.Controller``)."""

    def __init__(
        self,
        settings: Settings,
        kube: KubeClient,
        target_groups: TargetGroups,
        security_groups: SecurityGroups | None = None,
    ) -> None:
        super().__init__(NAME, concurrency=settings.workers, backoff=retry_backoff(settings))
        ns = settings.watch_namespace
        resync = settings.resync_period
        # Read by the admission webhooks (lbc.webhook), which run on every replica.
        self.target_groups = target_groups

        informer = informer_factory(kube, resync)

        self.bindings: Informer[BindingEntry] = informer(
            TARGET_GROUP_BINDINGS, binding_entry, namespace=ns, indexers=BINDING_INDEXERS
        )
        self.services = informer(SERVICES, service_view, namespace=ns)
        self.slices = informer(
            ENDPOINT_SLICES,
            endpoint_slice_view,
            namespace=ns,
            label_selector="kubernetes.io/service-name",
            indexers={SLICE_SERVICE_INDEX: slice_service_index},
        )
        self.pods = informer(
            PODS,
            pod_view,
            namespace=ns,
            indexers={POD_GATE_INDEX: pod_gate_index},
            watch_decode=pod_watch_event,
        )
        self.nodes = informer(NODES, node_view)
        self.ledgers_informer = informer(
            CONFIG_MAPS, ledger_version, namespace=ns, metadata_only=True
        )
        self.informers = (
            self.bindings,
            self.services,
            self.slices,
            self.pods,
            self.nodes,
            self.ledgers_informer,
        )
        ledgers = Ledgers(kube)
        self._synced = False
        events = EventRecorder(kube, component="lbc", host=settings.cluster_name or "")
        # spec.networking (SPEC §9): a controller of its own, keyed by security group, fed by
        # the reconciler's wishes; a changed outcome wakes the binding to write its condition.
        self.networking: NetworkingController | None = None
        if security_groups is not None:
            self.networking = NetworkingController(
                groups=security_groups,
                bindings=self.bindings.store,
                nodes=self.nodes.store,
                cluster_name=settings.cluster_name,
                extra_tags=settings.endpoint_group_tags,
                events=events,
                wake_binding=self.queue.add,
                requeue_period=settings.requeue_period,
                concurrency=settings.workers,
                backoff_base=settings.backoff_base,
                backoff_max=settings.backoff_max,
            )
        self.reconciler = BindingReconciler(
            kube=kube,
            target_groups=target_groups,
            ledgers=ledgers,
            events=events,
            bindings=self.bindings.store,
            services=self.services.store,
            slices=self.slices.store,
            pods=self.pods.store,
            nodes=self.nodes.store,
            requeue_period=settings.requeue_period,
            drift_verify_period=settings.drift_verify_period,
            networking=self.networking,
            ledger_versions=self.ledgers_informer.store,
            fail_open=settings.fail_open,
            max_targets=settings.max_targets_per_target_group,
            settle_window=settings.rollout_settle_window,
            settle_limit=settings.rollout_settle_limit,
            settle_busy=fleet_busy(settings),
            port_for=lambda b: target_groups.as_role(
                role_of(b.spec.iam_role_arn_to_assume, b.spec.assume_role_external_id)
            ),
        )
        triggers = Triggers(
            self.queue.add,
            self.bindings.store.by_index,
            own_checkpoint=self.reconciler.own_checkpoint,
            own_ledger_version=ledgers.written_version,
            enqueue_low=lambda key: self.queue.add(key, low_priority=True),
            initial=self._initial_lists,
            changed=self.reconciler.input_changed,
        )
        self.bindings.add_handlers(triggers.binding_handlers())
        self.services.add_handlers(triggers.service_handlers())
        self.slices.add_handlers(triggers.slice_handlers())
        self.pods.add_handlers(triggers.pod_handlers())
        self.nodes.add_handlers(triggers.node_handlers())
        self.ledgers_informer.add_handlers(triggers.ledger_handlers())

    def _initial_lists(self) -> bool:
        """Whether the informers are still delivering their first lists (sticky once false)."""
        if self._synced:
            return False
        self._synced = all(i.has_synced() for i in self.informers)
        return not self._synced

    def owned_keys(self) -> Iterable[str]:
        # Low priority (the sweep): a live event for any binding overtakes it.
        return self.bindings.store.keys()


@asynccontextmanager
async def binding_controllers(settings: Settings, kube: KubeClient) -> AsyncIterator[Sequence[Any]]:
    """The daemon's controller factory: AWS clients open for the daemon's lifetime.

    The binding controller, beside it the networking controller it feeds, and the stack
    controllers ``LBC_STACKS`` names (Ingress groups, NLB Services). They share the AWS
    clients, rate limits and caches of one adapter.
    """
    async with open_aws(settings) as aws:
        groups = SecurityGroups(aws.clients.ec2, aws.calls, ttl=settings.networking_cache_ttl)
        bindings = BindingController(settings, kube, aws.target_groups, groups)
        built: list[Any] = [c for c in (bindings, bindings.networking) if c is not None]
        if settings.stack_kinds:
            # Imported here: a daemon without stacks never loads the stack machinery.
            from lbc.control.stacks import stack_controllers  # noqa: PLC0415

            built.extend(stack_controllers(settings, kube, aws))
        yield tuple(built)
