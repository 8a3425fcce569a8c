"""The Ingress-group reconciler: one key per group (a :class:`~lbc.core.stack.model.StackId`).

One pass, in LBC's order (reference §2.6 "Status/finalizer flow"):

1. load the group from the caches (claiming, membership, order: ``core.stack.ingress_groups``);
2. observe the stack's AWS resources by tags and build the desired stack
   (``core.stack.ingress``); a *hands-off* outcome stops here with no write of any kind (no AWS
   call, no finalizer, no binding) and one Warning naming the keys, repeated only when the keys
   change; a build error is a ``FailedBuildModel`` Warning;
3. add the group finalizer to every active member;
4. when the group has no active members left and its target groups still hold targets no ledger
   of this cluster accounts for (other clusters' targets in a MultiCluster group), *retain* the
   stack: delete this cluster's bindings (their targets are deregistered by the binding
   controller), keep the load balancer, listeners, rules and target groups as they are, tagged,
   and say so (``SharedStackRetained``). ``lbc.k8s.aws/delete-shared-stack: "true"`` on a
   deleting member consents to delete anyway;
5. deploy (``lbc.control.stackdeploy``), then patch ``status.loadBalancer`` of every active
   member when it differs, remove the finalizer from inactive members, and report
   ``SuccessfullyReconciled``.

Every Kubernetes write goes to objects the group's caches hold; every AWS write goes through
the deployer. A failure raises: the worker retries with backoff, the finalizer stays.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

from lbc.control.stack_bindings import StackBindings
from lbc.control.stack_retention import RETAINED, retain_if_shared
from lbc.control.stackdeploy import DeployResult, StackDeployer
from lbc.control.worker import Result
from lbc.core.errors import LbcError, NotFoundError, TerminalError
from lbc.core.stack.annotations import AnnotationError, delete_shared_stack_consent
from lbc.core.stack.ingress import IngressInputs, build_ingress_stack
from lbc.core.stack.ingress_groups import IngressCatalog, IngressGroup, load_group
from lbc.core.stack.inputs import (
    IngressView,
    ServiceView,
    StackConfig,
)
from lbc.core.stack.model import (
    INGRESS_PREFIX,
    BuildError,
    Built,
    HandsOff,
    Stack,
    StackId,
    Unclaimed,
)
from lbc.core.stack.observed import ObservedStack, existing_load_balancer
from lbc.kube.client import INGRESSES, KubeClient, PatchType
from lbc.kube.events import EventRecorder, ObjectRef
from lbc.observe.log import get_logger

_log = get_logger("lbc.ingress")

SUCCESS: Final = "SuccessfullyReconciled"
FAILED_BUILD: Final = "FailedBuildModel"
FAILED_DEPLOY: Final = "FailedDeployModel"
FAILED_ADD_FINALIZER: Final = "FailedAddFinalizer"
FAILED_REMOVE_FINALIZER: Final = "FailedRemoveFinalizer"
FAILED_STATUS: Final = "FailedUpdateStatus"
HANDS_OFF: Final = "UnsupportedSettings"
MULTI_CLUSTER_REFUSED: Final = "MultiClusterDisableRefused"


def ingress_ref(view: IngressView) -> ObjectRef:
    return ObjectRef("networking.k8s.io/v1", "Ingress", view.namespace, view.name, view.uid)


class IngressReconciler:
    """Reconciles one Ingress group per call (see the module docstring)."""

    def __init__(
        self,
        *,
        kube: KubeClient,
        deployer: StackDeployer,
        bindings: StackBindings,
        events: EventRecorder,
        config: StackConfig,
        ingresses: Any,
        services: Any,
        catalog: Any,
        status_of: Any,
        ingress_class: str,
    ) -> None:
        """``ingresses``, ``services``, ``catalog`` and ``status_of`` read the informers' caches
        at call time (all Ingress views, all Service views, the IngressCatalog, and an
        Ingress's current ``status.loadBalancer.ingress`` by ``ns/name``)."""
        self._kube = kube
        self._deployer = deployer
        self._bindings = bindings
        self._events = events
        self._config = config
        self._ingresses = ingresses
        self._services = services
        self._catalog = catalog
        self._status_of = status_of
        self._ingress_class = ingress_class
        self._hands_off: dict[StackId, str] = {}

    async def reconcile(self, group_id: StackId) -> Result | None:
        ingresses: list[IngressView] = self._ingresses()
        catalog: IngressCatalog = self._catalog()
        loaded = load_group(group_id, ingresses, catalog, self._ingress_class)
        involved = [i for i in ingresses if _involved(i, group_id, loaded)]
        if isinstance(loaded, BuildError):
            await self._warn(involved, loaded.reason, loaded.message)
            raise TerminalError(loaded.message, reason=loaded.reason)
        inventory = self._deployer.inventory
        observed = await inventory.observe(
            self._config.cluster_name, INGRESS_PREFIX, group_id.value
        )
        outcome = build_ingress_stack(
            IngressInputs(
                group=loaded,
                config=self._config,
                services=tuple(self._services_of(loaded)),
                subnets=await inventory.subnets(),
                existing=existing_load_balancer(observed),
            )
        )
        if isinstance(outcome, HandsOff):
            if self._hands_off.get(group_id) != outcome.message:
                self._hands_off[group_id] = outcome.message
                await self._warn(involved, HANDS_OFF, outcome.message)
            _log.warning("stack_hands_off", stack_id=group_id.value, keys=list(outcome.keys))
            return None
        self._hands_off.pop(group_id, None)
        if isinstance(outcome, BuildError):
            await self._warn(involved, outcome.reason, outcome.message)
            raise TerminalError(outcome.message, reason=outcome.reason)
        if isinstance(outcome, Unclaimed):
            return None
        await self._deploy(loaded, outcome, observed)
        return None

    def _services_of(self, group: IngressGroup) -> Iterable[ServiceView]:
        namespaces = {m.ingress.namespace for m in group.members}
        services: list[ServiceView] = self._services()
        return (s for s in services if s.namespace in namespaces)

    async def _deploy(self, group: IngressGroup, built: Built, observed: ObservedStack) -> None:
        members = [m.ingress for m in group.members]
        stack = built.stack
        for message in built.warnings:
            await self._warn(members, FAILED_BUILD, message)
        await self._add_finalizers(members, built.finalizer)
        if stack.empty and not group.members:
            retained = await self._retain_if_shared(group, stack, observed)
            if retained:
                await self._remove_finalizers(group.inactive, built.finalizer)
                return
        try:
            result = await self._deployer.deploy(stack, observed)
        except LbcError as exc:
            await self._warn(members or list(group.inactive), FAILED_DEPLOY, str(exc))
            raise
        await self._status(members, result, stack)
        for binding in self._bindings.of(stack):
            if binding.refused:
                # The stack asks for multiClusterTargetGroup false; the binding controller keeps
                # the ledger's protection (README, MultiClusterDisableRefused): say so here too.
                await self._warn(
                    members, MULTI_CLUSTER_REFUSED, f"binding {binding.key}: {binding.refused}"
                )
        await self._remove_finalizers(group.inactive, built.finalizer)
        for member in members:
            await self._events.normal(ingress_ref(member), SUCCESS, "Successfully reconciled")
        _log.info(
            "stack_reconciled",
            stack_id=stack.id.value,
            changed=len(result.changed),
            members=len(members),
        )

    # -- shared-stack retention ------------------------------------------------------------------

    async def _retain_if_shared(
        self, group: IngressGroup, stack: Stack, observed: ObservedStack
    ) -> bool:
        """Whether the stack is kept for other clusters (after this cluster's bindings left)."""
        if not observed.target_groups:
            return False
        try:
            consent = any(delete_shared_stack_consent(dict(i.annotations)) for i in group.inactive)
        except AnnotationError as exc:
            await self._warn(list(group.inactive), FAILED_BUILD, str(exc))
            raise
        if consent:
            return False
        message = await retain_if_shared(
            self._kube, self._deployer, self._bindings, stack, observed
        )
        if message is None:
            return False
        await self._warn(list(group.inactive), RETAINED, message)
        return True

    # -- Kubernetes writes -----------------------------------------------------------------------

    async def _add_finalizers(self, members: Sequence[IngressView], finalizer: str) -> None:
        for member in members:
            if finalizer in member.finalizers:
                continue
            try:
                await self._set_finalizers(member, [*member.finalizers, finalizer])
            except LbcError as exc:
                await self._warn([member], FAILED_ADD_FINALIZER, str(exc))
                raise

    async def _remove_finalizers(self, inactive: Sequence[IngressView], finalizer: str) -> None:
        for member in inactive:
            if finalizer not in member.finalizers:
                continue
            try:
                await self._set_finalizers(member, [f for f in member.finalizers if f != finalizer])
            except NotFoundError:
                continue
            except LbcError as exc:
                await self._warn([member], FAILED_REMOVE_FINALIZER, str(exc))
                raise

    async def _set_finalizers(self, member: IngressView, finalizers: list[str]) -> None:
        # JSON patch with a test on the list read: a concurrent change is a conflict, not lost.
        patch = [
            {"op": "test", "path": "/metadata/finalizers", "value": list(member.finalizers)}
            if member.finalizers
            else {"op": "test", "path": "/metadata/uid", "value": member.uid},
            {"op": "add" if not member.finalizers else "replace",
             "path": "/metadata/finalizers", "value": finalizers},
        ]  # fmt: skip
        await self._kube.patch(
            INGRESSES, member.name, patch, member.namespace, patch_type=PatchType.JSON
        )

    async def _status(
        self, members: Sequence[IngressView], result: DeployResult, stack: Stack
    ) -> None:
        if not result.dns_name:
            return
        ports = [{"port": li.port, "protocol": "TCP"} for li in stack.listeners]
        wanted = [{"hostname": result.dns_name.lower(), "ports": ports}]
        for member in members:
            current = self._status_of(member.key)
            if current == wanted:
                continue
            try:
                await self._kube.patch_status(
                    INGRESSES,
                    member.name,
                    {"status": {"loadBalancer": {"ingress": wanted}}},
                    member.namespace,
                )
            except LbcError as exc:
                await self._warn([member], FAILED_STATUS, str(exc))
                raise

    async def _warn(self, objects: Iterable[IngressView], reason: str, message: str) -> None:
        for obj in objects:
            await self._events.warning(ingress_ref(obj), reason, message)


def _involved(ingress: IngressView, group: StackId, loaded: IngressGroup | BuildError) -> bool:
    if isinstance(loaded, IngressGroup):
        keys = {m.ingress.key for m in loaded.members} | {i.key for i in loaded.inactive}
        return ingress.key in keys
    return group.explicit is False and ingress.key == group.value
