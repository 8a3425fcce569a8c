"""The stack deployer: observe by tags, plan (pure), execute in LBC's order.

:meth:`StackDeployer.deploy` is the one entry point the stack controllers use:

1. observe the stack's AWS resources by tags (``lbc.aws.stack_inventory``), from the shared
   listing when it is recent;
2. plan the operations (``lbc.core.stack.changes``); when the plan creates a named resource,
   observe again with a *fresh* listing and plan again, so a create is never decided on a stale
   view (a stale listing would build a second stack next to one made a moment ago);
3. execute the operations in order, resolving symbolic values (the ARN of a group created a
   step earlier) as it goes; bindings are written through :class:`StackBindings`.

Failure stops the execution at the failing operation; the next reconcile observes again and
continues from what exists. Every operation is idempotent against a fresh observation, which is
what makes "stop anywhere" safe.

Deletion guard (belt and braces): every delete re-checks that the resource's observed tags name
this cluster and this stack (``lbc.core.stack.observed.owned``) and refuses otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from lbc.aws.stack_inventory import StackInventory
from lbc.aws.stack_writes import StackWriter
from lbc.control.stack_bindings import StackBindings
from lbc.core.errors import LbcError, TerminalError
from lbc.core.stack.binding_changes import binding_spec
from lbc.core.stack.changes import (
    ApplyBindings,
    ChangePlan,
    CreateListener,
    CreateLoadBalancer,
    CreateRule,
    CreateSecurityGroup,
    CreateTargetGroup,
    DeleteListener,
    DeleteLoadBalancer,
    DeleteRule,
    DeleteSecurityGroup,
    DeleteTargetGroup,
    DeleteUnwantedBindings,
    GroupId,
    Operation,
    PlanError,
    SetRulePriorities,
    UpdateListener,
    UpdateLoadBalancer,
    UpdateRule,
    UpdateSecurityGroup,
    UpdateTargetGroup,
    api_actions,
    api_conditions,
    health_check_params,
    plan_changes,
    resolve_groups,
)
from lbc.core.stack.model import Stack
from lbc.core.stack.observed import ObservedStack, owned
from lbc.observe.log import get_logger
from lbc.observe.metrics import counter, histogram

_log = get_logger("lbc.stacks")

OPERATIONS: Final = counter(
    "lbc_stack_operations_total",
    "Stack deployer operations on AWS and bindings, by stack kind, operation and outcome.",
    ["kind", "operation", "outcome"],
)
DEPLOY_DURATION: Final = histogram(
    "lbc_stack_deploy_duration_seconds",
    "Duration of one stack deploy (observe, plan, execute), by stack kind.",
    ["kind"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)


class DeletionRefusedError(TerminalError):
    """A planned delete named a resource whose tags are not this cluster's and stack's."""

    reason = "DeletionRefused"


@dataclass(slots=True)
class DeployResult:
    """What a deploy left: the load balancer (``""`` when the stack has none) and its DNS name,
    the target groups by resource id, and the operations that changed something."""

    load_balancer_arn: str = ""
    dns_name: str = ""
    target_groups: dict[str, str] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _State:
    stack: Stack
    observed: ObservedStack
    result: DeployResult
    frontend: str
    backend: str
    listeners: dict[int, str]

    @property
    def owner(self) -> tuple[str, str, str]:
        return (self.stack.cluster_name, self.stack.id.prefix, self.stack.id.value)


class StackDeployer:
    """Deploys stacks of one kind's controller (see the module docstring)."""

    def __init__(
        self,
        inventory: StackInventory,
        writer: StackWriter,
        bindings: StackBindings,
        *,
        vpc_id: str,
        external_tags: frozenset[str] = frozenset(),
    ) -> None:
        self.inventory = inventory
        self.writer = writer
        self.bindings = bindings
        self._vpc = vpc_id
        self._external = external_tags

    async def observe(self, stack: Stack, *, fresh: bool = False) -> ObservedStack:
        return await self.inventory.observe(
            stack.cluster_name, stack.id.prefix, stack.id.value, fresh=fresh
        )

    async def plan(
        self, stack: Stack, observed: ObservedStack | None = None
    ) -> tuple[ChangePlan, ObservedStack, str]:
        """The plan for ``stack``, decided on a fresh listing whenever it creates anything.

        ``observed``: what the caller observed for this reconcile already (the builder needs the
        existing load balancer first); the listing is not repeated unless a create follows.
        """
        if observed is None:
            observed = await self.observe(stack)
        backend = await self._backend_id(stack)
        plan = self._plan(stack, observed, backend)
        if plan.creates:
            observed = await self.observe(stack, fresh=True)
            backend = await self._backend_id(stack)
            plan = self._plan(stack, observed, backend)
        return plan, observed, backend

    def _plan(self, stack: Stack, observed: ObservedStack, backend: str) -> ChangePlan:
        try:
            return plan_changes(
                stack,
                observed,
                vpc_id=self._vpc,
                backend_group_id=backend,
                external_tags=self._external,
            )
        except PlanError as exc:
            raise TerminalError(str(exc), reason="FailedDeployModel") from exc

    async def _backend_id(self, stack: Stack) -> str:
        wanted = stack.backend_security_group
        if wanted is not None and wanted.group_id:
            return wanted.group_id
        found = await self.inventory.backend_security_group(stack.cluster_name)
        return found.group_id if found is not None else ""

    async def deploy(self, stack: Stack, observed: ObservedStack | None = None) -> DeployResult:
        """Make AWS and the stack's bindings match ``stack``; raises on the first failure."""
        kind = stack.id.kind.name.lower()
        started = time.perf_counter()
        try:
            plan, observed, backend = await self.plan(stack, observed)
            if stack.backend_security_group is not None and not backend:
                backend = await self._create_backend(stack)
            state = _State(
                stack,
                observed,
                DeployResult(
                    load_balancer_arn=plan.load_balancer_arn,
                    target_groups=dict(plan.target_groups),
                ),
                plan.frontend_group_id,
                backend,
                {},
            )
            for lb in observed.load_balancers:
                if lb.arn == plan.load_balancer_arn:
                    state.result.dns_name = lb.dns_name
                    state.listeners = {li.port: li.arn for li in observed.listeners.get(lb.arn, ())}
            for op in plan.operations:
                name = type(op).__name__
                try:
                    changed = await self._execute(op, state)
                except LbcError as exc:
                    OPERATIONS.labels(kind, name, "error").inc()
                    _log.warning(
                        "stack_operation_failed",
                        stack_id=stack.id.value,
                        operation=name,
                        reason=exc.reason,
                        error=str(exc),
                    )
                    raise
                if changed:
                    OPERATIONS.labels(kind, name, "success").inc()
                    state.result.changed.append(name)
                    _log.info("stack_operation", stack_id=stack.id.value, operation=name)
            return state.result
        finally:
            DEPLOY_DURATION.labels(kind).observe(time.perf_counter() - started)

    async def _create_backend(self, stack: Stack) -> str:
        """The cluster's backend group, created once: stacks deployed concurrently (and both
        stack controllers) share one writer, whose lock makes them find or create it in turn,
        each re-reading the group listing first."""
        wanted = stack.backend_security_group
        if wanted is None:
            raise ValueError("the stack needs no backend security group")
        async with self.writer.backend_lock:
            self.inventory.invalidate("sgs")
            found = await self.inventory.backend_security_group(stack.cluster_name)
            if found is not None:
                return found.group_id
            group = await self.writer.create_security_group(
                wanted.name, wanted.description, self._vpc, dict(wanted.tags)
            )
        kind = stack.id.kind.name.lower()
        OPERATIONS.labels(kind, "CreateBackendSecurityGroup", "success").inc()
        _log.info("backend_security_group_created", stack_id=stack.id.value, group_id=group)
        return group

    def _guard(self, state: _State, tags: Mapping[str, str], what: str) -> None:
        if not owned(tags, *state.owner):
            raise DeletionRefusedError(
                f"refusing to delete {what}: it lacks this cluster's or this stack's tag"
            )

    async def _delete(
        self, op: DeleteSecurityGroup | DeleteTargetGroup | DeleteLoadBalancer, state: _State
    ) -> None:
        """A planned delete, once the resource's tags say this cluster and this stack."""
        w = self.writer
        delete: Callable[[str], Awaitable[None]]
        if isinstance(op, DeleteSecurityGroup):
            what, key, delete = "security group", op.group_id, w.delete_security_group
        elif isinstance(op, DeleteTargetGroup):
            what, key, delete = "target group", op.arn, w.delete_target_group
        else:
            what, key, delete = "load balancer", op.arn, w.delete_load_balancer
        self._guard(state, op.tags, f"{what} {key}")
        await delete(key)

    async def _attributes_and_tags(
        self, op: UpdateTargetGroup | UpdateLoadBalancer, changed: bool
    ) -> bool:
        """The end of an in-place update: attributes (compared with AWS's), then tags."""
        w = self.writer
        if op.attributes:
            ensure = (
                w.ensure_target_group_attributes
                if isinstance(op, UpdateTargetGroup)
                else w.ensure_load_balancer_attributes
            )
            changed |= await ensure(op.arn, op.attributes)
        await w.tag(op.arn, op.tags)
        return changed or not op.tags.empty

    async def _execute(self, op: Operation, state: _State) -> bool:
        """Run one operation; whether it changed anything."""
        w = self.writer
        tgs = state.result.target_groups
        if isinstance(op, DeleteSecurityGroup | DeleteTargetGroup | DeleteLoadBalancer):
            await self._delete(op, state)
            return True
        if isinstance(op, CreateSecurityGroup):
            state.frontend = await w.create_security_group(
                op.name, op.description, self._vpc, op.tags
            )
            await w.authorize(state.frontend, op.ingress)
            return True
        if isinstance(op, UpdateSecurityGroup):
            await w.authorize(op.group_id, op.authorize)
            await w.revoke(op.group_id, op.revoke)
            await w.tag_group(op.group_id, op.tags)
            return not op.empty
        if isinstance(op, CreateTargetGroup):
            tgs[op.spec.resource_id] = await w.create_target_group(
                op.spec,
                op.vpc_id or self._vpc,
                foreign=state.observed.other_arns,
                owner=state.owner,
            )
            return True
        if isinstance(op, UpdateTargetGroup):
            changed = False
            if op.health_check is not None:
                await w.modify_target_group(op.arn, health_check_params(op.health_check))
                changed = True
            return await self._attributes_and_tags(op, changed)
        if isinstance(op, CreateLoadBalancer):
            groups = resolve_groups(
                [GroupId(ref) for ref in op.spec.security_groups], state.frontend, state.backend
            )
            arn, dns = await w.create_load_balancer(
                op.spec, groups, foreign=state.observed.other_arns, owner=state.owner
            )
            state.result.load_balancer_arn, state.result.dns_name = arn, dns
            state.listeners = {}
            return True
        if isinstance(op, UpdateLoadBalancer):
            changed = False
            if op.security_groups is not None:
                groups = resolve_groups(op.security_groups, state.frontend, state.backend)
                if frozenset(groups) != op.current_security_groups:
                    await w.set_security_groups(op.arn, groups)
                    changed = True
            if op.subnets is not None:
                await w.set_subnets(op.arn, op.subnets)
                changed = True
            return await self._attributes_and_tags(op, changed)
        if isinstance(op, CreateListener):
            state.listeners[op.port] = await w.create_listener(
                state.result.load_balancer_arn,
                op.port,
                op.protocol,
                api_actions(op.default_actions, tgs),
                op.tags,
            )
            return True
        if isinstance(op, UpdateListener):
            if op.protocol is not None or op.default_actions is not None:
                await w.modify_listener(
                    op.arn,
                    protocol=op.protocol,
                    actions=(
                        None if op.default_actions is None else api_actions(op.default_actions, tgs)
                    ),
                )
            await w.tag(op.arn, op.tags)
            return not op.empty
        if isinstance(op, DeleteListener | DeleteRule):
            delete = w.delete_listener if isinstance(op, DeleteListener) else w.delete_rule
            await delete(op.arn)
            return True
        if isinstance(op, SetRulePriorities):
            await w.set_rule_priorities(op.priorities)
            return True
        if isinstance(op, CreateRule):
            await w.create_rule(
                state.listeners[op.spec.listener_port],
                op.spec.priority,
                api_conditions(op.spec),
                api_actions(op.spec.actions, tgs),
                dict(op.spec.tags),
            )
            return True
        if isinstance(op, UpdateRule):
            if op.rewrite:
                await w.modify_rule(
                    op.arn, api_conditions(op.spec), api_actions(op.spec.actions, tgs)
                )
            await w.tag(op.arn, op.tags)
            return not op.empty
        if isinstance(op, ApplyBindings):
            wanted = [
                (b, binding_spec(b, tgs[b.target_group_id], state.frontend, state.backend))
                for b in state.stack.bindings
            ]
            return await self.bindings.apply(state.stack, wanted)
        if isinstance(op, DeleteUnwantedBindings):
            keep = {tgs[b.target_group_id] for b in state.stack.bindings}
            return await self.bindings.delete_unwanted(state.stack, keep)
        raise AssertionError(f"unknown operation {op!r}")
