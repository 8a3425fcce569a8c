"""What the Ingress and Service reconcilers share: LBC's status/finalizer flow around one deploy.

Both reconcile a stack for Kubernetes objects: an Ingress group for its Ingresses, an NLB for
its Service. Once the builder has spoken (:meth:`StackReconcile.built`), one flow holds for
both (reference §2.6 and B.1.3):

1. a hands-off outcome or a claim that comes with a warning is reported once per message (no
   write of any kind); a build error is a Warning and a terminal error;
2. the finalizer is added to every *active* object (a member of the group, a claimed Service);
3. a stack left empty by its last object is retained while its target groups hold other
   clusters' targets (``lbc.control.stack_retention``), unless a leaving object consents;
4. deploy (``lbc.control.stackdeploy``), patch ``status.loadBalancer`` of every active object
   when it differs, report refused MultiCluster flips, then let the *inactive* objects go
   (their status cleared where the kind does so, their finalizer removed) and report
   ``SuccessfullyReconciled``.

A failed write is a Warning on the object it was for, then raised: the worker retries with
backoff and the finalizer stays. What differs between the kinds is data (:class:`ObjectKind`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, NoReturn, TypeVar

from lbc.control.stack_bindings import StackBindings
from lbc.control.stack_retention import RETAINED, retain_if_shared
from lbc.control.stackdeploy import DeployResult, StackDeployer
from lbc.core.errors import LbcError, NotFoundError, TerminalError
from lbc.core.stack.annotations import AnnotationError, delete_shared_stack_consent
from lbc.core.stack.binding_changes import ObservedBinding
from lbc.core.stack.inputs import ExistingLoadBalancer, StackConfig, SubnetFacts
from lbc.core.stack.model import (
    BuildError,
    BuildOutcome,
    Built,
    HandsOff,
    Listener,
    Stack,
    Tags,
    Unclaimed,
)
from lbc.core.stack.observed import ObservedStack, existing_load_balancer
from lbc.kube.client import KubeClient, PatchType, Resource
from lbc.kube.events import EventRecorder, ObjectRef
from lbc.kube.informer import Store
from lbc.observe.log import get_logger
from lbc.settings import Settings

_log = get_logger("lbc.stacks")

V = TypeVar("V")

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


STACK_WORKERS_MAX: Final = 4


def stack_workers(settings: Settings) -> int:
    """Workers of a stack controller: the daemon's ``LBC_WORKERS``, at most four."""
    return max(1, min(settings.workers, STACK_WORKERS_MAX))


@dataclass(frozen=True, slots=True)
class CachedObject(Generic[V]):
    """An informer's entry for an object stacks are reconciled for: the builders' view, its uid
    (for events) and its current ``status.loadBalancer.ingress`` (patched only when it differs,
    so lbc's own status write is a change of the entry's status alone and wakes nothing)."""

    view: V
    uid: str
    status: Any


def cached_object(
    view_of: Callable[[dict[str, Any]], V],
) -> Callable[[dict[str, Any]], CachedObject[V]]:
    """The informer projection to a :class:`CachedObject` with the builders' ``view_of``."""

    def project(obj: dict[str, Any]) -> CachedObject[V]:
        status = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress")
        uid = str((obj.get("metadata") or {}).get("uid", ""))
        return CachedObject(view_of(obj), uid, status)

    return project


@dataclass(frozen=True, slots=True)
class ObjectKind:
    """How the objects of one kind are written: the only ways Ingresses and Services differ.

    ``guard`` names the metadata field a JSON patch tests when the object has no finalizers yet
    (``uid`` or ``name``; with finalizers the list read is tested, so a concurrent change is a
    conflict, not lost). ``gone_ok``: a finalizer or status write to an object deleted meanwhile
    is skipped rather than failed (a finalizer removal always is). ``clears_status``: an object
    leaving its stack gets its ``status.loadBalancer`` cleared. ``port_protocol`` is what the
    status says of a listener's protocol.
    """

    resource: Resource
    prefix: str
    guard: str
    gone_ok: bool
    clears_status: bool
    port_protocol: Callable[[Listener], str]


@dataclass(frozen=True, slots=True)
class StackObject:
    """One object a stack is reconciled for, as its writes need it (``status``: the cached
    ``status.loadBalancer.ingress``)."""

    ref: ObjectRef
    finalizers: tuple[str, ...]
    annotations: Tags
    status: Any


FlowFactory = Callable[[ObjectKind, Sequence[Store[ObservedBinding]]], "StackReconcile"]
"""What a stack controller is given (``lbc.control.stacks``): the flow for its kind of object,
its generated bindings read from the binding caches it names."""


class StackReconcile:
    """The shared flow (module docstring) on one kind of object; a reconciler holds one."""

    def __init__(
        self,
        *,
        kind: ObjectKind,
        kube: KubeClient,
        deployer: StackDeployer,
        bindings: StackBindings,
        events: EventRecorder,
        config: StackConfig,
    ) -> None:
        self._kind = kind
        self.config = config
        self._kube = kube
        self._deployer = deployer
        self._bindings = bindings
        self._events = events
        self._reported: dict[Hashable, str] = {}

    async def observe(
        self, stack_value: str
    ) -> tuple[ObservedStack, tuple[SubnetFacts, ...], ExistingLoadBalancer | None]:
        """What AWS holds under the stack's tags, and the AWS facts a build reads (the VPC's
        subnets, the load balancer found)."""
        inventory = self._deployer.inventory
        observed = await inventory.observe(self.config.cluster_name, self._kind.prefix, stack_value)
        return observed, await inventory.subnets(), existing_load_balancer(observed)

    # -- the builder's outcome -------------------------------------------------------------------

    async def built(
        self, key: Hashable, stack_value: str, outcome: BuildOutcome, objects: Sequence[ObjectRef]
    ) -> Built | None:
        """The stack to deploy, or None when the outcome stops the pass (reported to ``objects``
        once per message); a build error raises."""
        if isinstance(outcome, Unclaimed):
            for message in outcome.warnings:
                await self.once(key, objects, UNCLAIMED, message)
            return None
        if isinstance(outcome, HandsOff):
            await self.once(key, objects, HANDS_OFF, outcome.message)
            _log.warning("stack_hands_off", stack_id=stack_value, keys=list(outcome.keys))
            return None
        self.forget(key)
        if isinstance(outcome, BuildError):
            await self.fail(objects, outcome)
        return outcome

    async def fail(self, objects: Iterable[ObjectRef], error: BuildError) -> NoReturn:
        """A Warning with the build error on ``objects``; raises it as terminal."""
        await self.warn(objects, error.reason, error.message)
        raise TerminalError(error.message, reason=error.reason)

    async def once(
        self, key: Hashable, objects: Iterable[ObjectRef], reason: str, message: str
    ) -> None:
        """A Warning, unless ``message`` is what was last reported for ``key``."""
        if self._reported.get(key) != message:
            self._reported[key] = message
            await self.warn(objects, reason, message)

    def forget(self, key: Hashable) -> None:
        self._reported.pop(key, None)

    async def warn(self, objects: Iterable[ObjectRef], reason: str, message: str) -> None:
        for ref in objects:
            await self._events.warning(ref, reason, message)

    # -- the deploy and its writes ---------------------------------------------------------------

    async def deploy(
        self,
        built: Built,
        observed: ObservedStack,
        active: Sequence[StackObject],
        inactive: Sequence[StackObject],
    ) -> None:
        """Steps 2 to 4 of the module docstring."""
        stack = built.stack
        active_refs = [o.ref for o in active]
        for message in built.warnings:
            await self.warn([o.ref for o in active or inactive], FAILED_BUILD, message)
        for obj in active:
            await self._finalizer(obj, built.finalizer, present=True)
        if stack.empty and not active and await self._retained(stack, observed, inactive):
            await self._leave(inactive, built.finalizer)
            return
        try:
            result = await self._deployer.deploy(stack, observed)
        except LbcError as exc:
            await self.warn([o.ref for o in active or inactive], FAILED_DEPLOY, str(exc))
            raise
        await self._status(active, result, stack)
        for binding in self._bindings.of(stack):
            if binding.refused:
                # The stack asks for multiClusterTargetGroup false; the binding controller keeps
                # the ledger's protection (README, MultiClusterDisableRefused): say so here too.
                await self.warn(
                    active_refs, MULTI_CLUSTER_REFUSED, f"binding {binding.key}: {binding.refused}"
                )
        await self._leave(inactive, built.finalizer)
        for ref in active_refs:
            await self._events.normal(ref, SUCCESS, "Successfully reconciled")
        _log.info(
            "stack_reconciled",
            stack_id=stack.id.value,
            changed=len(result.changed),
            members=len(active),
        )

    async def _retained(
        self, stack: Stack, observed: ObservedStack, leaving: Sequence[StackObject]
    ) -> bool:
        """Whether the stack is kept for other clusters (after this cluster's bindings left)."""
        if not observed.target_groups:
            return False
        refs = [o.ref for o in leaving]
        try:
            consent = any(delete_shared_stack_consent(dict(o.annotations)) for o in leaving)
        except AnnotationError as exc:
            await self.warn(refs, FAILED_BUILD, str(exc))
            raise
        if consent:
            return False
        message = await retain_if_shared(
            self._kube, self._deployer, self._bindings, stack, observed
        )
        if message is None:
            return False
        await self.warn(refs, RETAINED, message)
        return True

    async def _leave(self, inactive: Sequence[StackObject], finalizer: str) -> None:
        for obj in inactive:
            if self._kind.clears_status and obj.status:
                await self._patch_status(obj, None, FAILED_CLEANUP_STATUS)
            await self._finalizer(obj, finalizer, present=False)

    async def _status(
        self, active: Sequence[StackObject], result: DeployResult, stack: Stack
    ) -> None:
        if not result.dns_name:
            return
        protocol = self._kind.port_protocol
        ports = [{"port": li.port, "protocol": protocol(li)} for li in stack.listeners]
        wanted = [{"hostname": result.dns_name.lower(), "ports": ports}]
        for obj in active:
            if obj.status != wanted:
                await self._patch_status(obj, wanted, FAILED_STATUS)

    async def _patch_status(self, obj: StackObject, ingress: Any, reason: str) -> None:
        ref = obj.ref
        try:
            await self._kube.patch_status(
                self._kind.resource,
                ref.name,
                {"status": {"loadBalancer": {"ingress": ingress}}},
                ref.namespace,
            )
        except LbcError as exc:
            if isinstance(exc, NotFoundError) and self._kind.gone_ok:
                return
            await self.warn([ref], reason, str(exc))
            raise

    async def _finalizer(self, obj: StackObject, finalizer: str, *, present: bool) -> None:
        current = list(obj.finalizers)
        if (finalizer in current) == present:
            return
        wanted = [*current, finalizer] if present else [f for f in current if f != finalizer]
        ref, guard = obj.ref, self._kind.guard
        patch: list[dict[str, Any]] = [
            {"op": "test", "path": "/metadata/finalizers", "value": current}
            if current
            else {"op": "test", "path": f"/metadata/{guard}", "value": getattr(ref, guard)},
            {"op": "replace" if current else "add", "path": "/metadata/finalizers",
             "value": wanted},
        ]  # fmt: skip
        reason = FAILED_ADD_FINALIZER if present else FAILED_REMOVE_FINALIZER
        try:
            await self._kube.patch(
                self._kind.resource, ref.name, patch, ref.namespace, patch_type=PatchType.JSON
            )
        except LbcError as exc:
            if isinstance(exc, NotFoundError) and (self._kind.gone_ok or not present):
                return
            await self.warn([ref], reason, str(exc))
            raise
