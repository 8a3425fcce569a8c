"""The Service → NLB reconciler: one key per Service (``namespace/name``).

One pass, in LBC's order (reference B.1.3): build the desired stack from the Service
(``core.stack.service``; claiming by ``spec.loadBalancerClass`` or the type annotations), add
the finalizer ``service.k8s.aws/resources``, deploy, patch ``status.loadBalancer`` when it
differs, report ``SuccessfullyReconciled``. A Service no longer claimed (deleted, its type or
class changed) that still holds the finalizer builds the empty stack: everything under its tags
is deleted in LBC's order, its status is cleared and the finalizer removed, unless the stack is
shared with other clusters (``lbc.control.stack_retention``; the same consent annotation as
Ingresses). Hands-off and build errors are reported as for Ingresses: no write of any kind.
From the build on, the flow is the one the Ingress reconciler shares
(``lbc.control.stack_reconcile``).
"""

from __future__ import annotations

from typing import Any

from lbc.control.stack_reconcile import UNCLAIMED, ObjectKind, StackObject, StackReconcile
from lbc.control.worker import Result
from lbc.core.stack.inputs import ServiceView
from lbc.core.stack.model import SERVICE_PREFIX
from lbc.core.stack.service import (
    SERVICE_FINALIZER,
    ServiceInputs,
    build_service_stack,
    claims,
    unclaimed_external_warning,
)
from lbc.kube.client import SERVICES
from lbc.kube.events import ObjectRef

SERVICE_KIND = ObjectKind(
    SERVICES,
    SERVICE_PREFIX,
    guard="name",
    gone_ok=True,
    clears_status=True,
    port_protocol=lambda li: li.protocol.value,
)


def service_ref(view: ServiceView, uid: str) -> ObjectRef:
    return ObjectRef("v1", "Service", view.namespace, view.name, uid)


class ServiceReconciler:
    """Reconciles one Service per call (see the module docstring)."""

    def __init__(self, flow: StackReconcile, *, service_of: Any) -> None:
        """``flow`` is on :data:`SERVICE_KIND`; ``service_of(key)`` is ``(ServiceView, uid,
        current status ingress)`` or None."""
        self._flow = flow
        self._service_of = service_of

    async def reconcile(self, key: str) -> Result | None:
        found = self._service_of(key)
        if found is None:
            self._flow.forget(key)
            return None  # gone without lbc's finalizer: nothing of lbc's is left to clean
        service, uid, status = found
        ref = service_ref(service, uid)
        config = self._flow.config
        if not claims(service, config) and SERVICE_FINALIZER not in service.finalizers:
            # Not lbc's and nothing of lbc's to clean: decided without a single AWS call (most
            # Services of a cluster are ClusterIP ones).
            warning = unclaimed_external_warning(service)
            if warning and not service.deleting:
                await self._flow.once(key, [ref], UNCLAIMED, warning)
            return None
        stack_value = f"{service.namespace}/{service.name}"
        observed, subnets, existing = await self._flow.observe(stack_value)
        outcome = build_service_stack(
            ServiceInputs(service=service, config=config, subnets=subnets, existing=existing)
        )
        built = await self._flow.built(key, stack_value, outcome, [ref])
        if built is not None:
            obj = StackObject(ref, service.finalizers, service.annotations, status)
            # A Service leaves its stack when it builds the empty one (no longer claimed).
            leaving = built.stack.empty
            await self._flow.deploy(
                built, observed, [] if leaving else [obj], [obj] if leaving else []
            )
        return None
