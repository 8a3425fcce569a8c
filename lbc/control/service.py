"""The Service → NLB reconciler: one key per Service (``namespace/name``).

One pass, in LBC's order (reference B.1.3): build the desired stack from the Service
(``core.stack.service``; claiming by ``spec.loadBalancerClass`` or the type annotations), add
the finalizer ``service.k8s.aws/resources``, deploy, patch ``status.loadBalancer`` when it
differs, report ``SuccessfullyReconciled``. A Service no longer claimed (deleted, its type or
class changed) that still holds the finalizer builds the empty stack: everything under its tags
is deleted in LBC's order, its status is cleared and the finalizer removed, unless the stack is
shared with other clusters (``lbc.control.stack_retention``; the same consent annotation as
Ingresses). Hands-off and build errors are reported as for Ingresses: no write of any kind.
"""

from __future__ import annotations

from typing import Any, Final

from lbc.control.stack_bindings import StackBindings
from lbc.control.stack_retention import RETAINED, retain_if_shared
from lbc.control.stackdeploy import StackDeployer
from lbc.control.worker import Result
from lbc.core.errors import LbcError, NotFoundError, TerminalError
from lbc.core.stack.annotations import AnnotationError, delete_shared_stack_consent
from lbc.core.stack.inputs import ServiceView, StackConfig
from lbc.core.stack.model import SERVICE_PREFIX, BuildError, Built, HandsOff, Unclaimed
from lbc.core.stack.observed import ObservedStack, existing_load_balancer
from lbc.core.stack.service import (
    SERVICE_FINALIZER,
    ServiceInputs,
    build_service_stack,
    claims,
    unclaimed_external_warning,
)
from lbc.kube.client import SERVICES, KubeClient, PatchType
from lbc.kube.events import EventRecorder, ObjectRef
from lbc.observe.log import get_logger

_log = get_logger("lbc.service")

SUCCESS: Final = "SuccessfullyReconciled"
FAILED_BUILD: Final = "FailedBuildModel"
FAILED_DEPLOY: Final = "FailedDeployModel"
FAILED_ADD_FINALIZER: Final = "FailedAddFinalizer"
FAILED_REMOVE_FINALIZER: Final = "FailedRemoveFinalizer"
FAILED_STATUS: Final = "FailedUpdateStatus"
FAILED_CLEANUP_STATUS: Final = "FailedCleanupStatus"
HANDS_OFF: Final = "UnsupportedSettings"
UNCLAIMED: Final = "UnclaimedLoadBalancer"
MULTI_CLUSTER_REFUSED: Final = "MultiClusterDisableRefused"


def service_ref(view: ServiceView, uid: str) -> ObjectRef:
    return ObjectRef("v1", "Service", view.namespace, view.name, uid)


class ServiceReconciler:
    """Reconciles one Service per call (see the module docstring)."""

    def __init__(
        self,
        *,
        kube: KubeClient,
        deployer: StackDeployer,
        bindings: StackBindings,
        events: EventRecorder,
        config: StackConfig,
        service_of: Any,
    ) -> None:
        """``service_of(key)`` is ``(ServiceView, uid, current status ingress)`` or None."""
        self._kube = kube
        self._deployer = deployer
        self._bindings = bindings
        self._events = events
        self._config = config
        self._service_of = service_of
        self._reported: dict[str, str] = {}

    async def reconcile(self, key: str) -> Result | None:
        found = self._service_of(key)
        if found is None:
            self._reported.pop(key, None)
            return None  # gone without lbc's finalizer: nothing of lbc's is left to clean
        service, uid, status = found
        if not claims(service, self._config) and SERVICE_FINALIZER not in service.finalizers:
            # Not lbc's and nothing of lbc's to clean: decided without a single AWS call (most
            # Services of a cluster are ClusterIP ones).
            warning = unclaimed_external_warning(service)
            if warning and not service.deleting:
                await self._once(key, service_ref(service, uid), UNCLAIMED, warning)
            return None
        inventory = self._deployer.inventory
        stack_value = f"{service.namespace}/{service.name}"
        observed = await inventory.observe(self._config.cluster_name, SERVICE_PREFIX, stack_value)
        outcome = build_service_stack(
            ServiceInputs(
                service=service,
                config=self._config,
                subnets=await inventory.subnets(),
                existing=existing_load_balancer(observed),
            )
        )
        ref = service_ref(service, uid)
        if isinstance(outcome, Unclaimed):
            for message in outcome.warnings:
                await self._once(key, ref, UNCLAIMED, message)
            return None
        if isinstance(outcome, HandsOff):
            await self._once(key, ref, HANDS_OFF, outcome.message)
            _log.warning("stack_hands_off", stack_id=stack_value, keys=list(outcome.keys))
            return None
        self._reported.pop(key, None)
        if isinstance(outcome, BuildError):
            await self._events.warning(ref, outcome.reason, outcome.message)
            raise TerminalError(outcome.message, reason=outcome.reason)
        await self._deploy(service, ref, status, outcome, observed)
        return None

    async def _once(self, key: str, ref: ObjectRef, reason: str, message: str) -> None:
        if self._reported.get(key) != message:
            self._reported[key] = message
            await self._events.warning(ref, reason, message)

    async def _deploy(
        self,
        service: ServiceView,
        ref: ObjectRef,
        status: Any,
        built: Built,
        observed: ObservedStack,
    ) -> None:
        stack = built.stack
        for message in built.warnings:
            await self._events.warning(ref, FAILED_BUILD, message)
        finalizer = built.finalizer
        if stack.empty:
            if observed.target_groups:
                try:
                    consent = delete_shared_stack_consent(dict(service.annotations))
                except AnnotationError as exc:
                    await self._events.warning(ref, FAILED_BUILD, str(exc))
                    raise
                if not consent:
                    retained = await retain_if_shared(
                        self._kube, self._deployer, self._bindings, stack, observed
                    )
                    if retained is not None:
                        await self._events.warning(ref, RETAINED, retained)
                        await self._clear_status(service, ref, status)
                        await self._finalizers(service, ref, finalizer, present=False)
                        return
            await self._apply(stack, ref, observed)
            await self._clear_status(service, ref, status)
            await self._finalizers(service, ref, finalizer, present=False)
            return
        await self._finalizers(service, ref, finalizer, present=True)
        result = await self._apply(stack, ref, observed)
        if result.dns_name:
            ports = [{"port": li.port, "protocol": li.protocol.value} for li in stack.listeners]
            wanted = [{"hostname": result.dns_name.lower(), "ports": ports}]
            if status != wanted:
                await self._patch_status(service, ref, wanted, FAILED_STATUS)
        for binding in self._bindings.of(stack):
            if binding.refused:
                await self._events.warning(
                    ref, MULTI_CLUSTER_REFUSED, f"binding {binding.key}: {binding.refused}"
                )
        await self._events.normal(ref, SUCCESS, "Successfully reconciled")
        _log.info("stack_reconciled", stack_id=stack.id.value, changed=len(result.changed))

    async def _apply(self, stack: Any, ref: ObjectRef, observed: ObservedStack) -> Any:
        try:
            return await self._deployer.deploy(stack, observed)
        except LbcError as exc:
            await self._events.warning(ref, FAILED_DEPLOY, str(exc))
            raise

    async def _clear_status(self, service: ServiceView, ref: ObjectRef, status: Any) -> None:
        if status:
            await self._patch_status(service, ref, None, FAILED_CLEANUP_STATUS)

    async def _patch_status(
        self, service: ServiceView, ref: ObjectRef, ingress: Any, reason: str
    ) -> None:
        try:
            await self._kube.patch_status(
                SERVICES,
                service.name,
                {"status": {"loadBalancer": {"ingress": ingress}}},
                service.namespace,
            )
        except NotFoundError:
            return
        except LbcError as exc:
            await self._events.warning(ref, reason, str(exc))
            raise

    async def _finalizers(
        self, service: ServiceView, ref: ObjectRef, finalizer: str, *, present: bool
    ) -> None:
        current = list(service.finalizers)
        if (finalizer in current) == present:
            return
        wanted = [*current, finalizer] if present else [f for f in current if f != finalizer]
        patch: list[dict[str, Any]] = [
            {"op": "test", "path": "/metadata/finalizers", "value": current}
            if current
            else {"op": "test", "path": "/metadata/name", "value": service.name},
            {"op": "replace" if current else "add", "path": "/metadata/finalizers",
             "value": wanted},
        ]  # fmt: skip
        try:
            await self._kube.patch(
                SERVICES, service.name, patch, service.namespace, patch_type=PatchType.JSON
            )
        except NotFoundError:
            return
        except LbcError as exc:
            reason = FAILED_ADD_FINALIZER if present else FAILED_REMOVE_FINALIZER
            await self._events.warning(ref, reason, str(exc))
            raise
