"""The ordered AWS operations that turn what a stack has into what it wants (pure).

:func:`plan_changes` compares a desired :class:`~lbc.core.stack.model.Stack` with the
:class:`~lbc.core.stack.observed.ObservedStack` found under its tags and returns a
:class:`ChangePlan`: a list of operations in LBC's synthesizer order, which the shell
(``lbc.control.stackdeploy``) executes one by one.

Order (LBC's stack deployer): security group → target groups → load balancer → listeners →
rules → bindings, then a post phase in reverse (bindings deleted and awaited → target groups
deleted → security groups deleted). Consequences the order buys:

- a replaced target group (target type, protocol or protocol version differ) is created first,
  the listener rules and the binding are re-pointed to it, and the old group is deleted last,
  when nothing forwards to it any more;
- a replaced load balancer (type or scheme differ) is deleted *before* its successor is created
  (AWS refuses two load balancers with one name); its listeners and rules go with it;
- listeners are paired by port; rules first by identical conditions and actions (then only
  re-prioritised, in one SetRulePriorities), then by priority (modified in place); new rules are
  created before old ones are deleted.

Values not known before execution (ARNs of resources still to be created, the frontend security
group's id) are symbolic: :class:`TargetGroupArn` and :class:`GroupId` name a resource id, and
the executor keeps the map from resource id to what AWS answered.

Safety invariants, held by construction and by the tests:

- nothing is deleted unless it was observed under this cluster's *and* this stack's tags (every
  delete operation is built from an observed resource, and :func:`plan_changes` re-checks
  :func:`~lbc.core.stack.observed.owned` on each);
- a found resource without a ``<prefix>/resource`` tag stops the plan (:class:`PlanError`), as
  LBC does; nothing is deleted for it;
- tags are reconciled to the desired set but legacy keys and ``external`` keys are never written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lbc.core.stack.model import (
    Action,
    Attribute,
    FixedResponseAction,
    ForwardAction,
    HealthCheck,
    IPPermission,
    LoadBalancer,
    Rule,
    SecurityGroupRef,
    SecurityGroupRefKind,
    Stack,
    Tags,
    TargetGroup,
)
from lbc.core.stack.observed import (
    ObservedListener,
    ObservedLoadBalancer,
    ObservedRule,
    ObservedSecurityGroup,
    ObservedStack,
    ObservedTargetGroup,
    Permission,
    canonical_actions,
    canonical_conditions,
    owned,
)
from lbc.core.stack.tags import NO_TAG_CHANGES, TagChanges, legacy_tag_keys, tag_changes

FREE_PRIORITY_TOP = 50000
"""ALB rule priorities go up to 50000; rules moved out of the way take the highest free ones."""


class PlanError(Exception):
    """The observed state cannot be planned safely (a tagged resource without its resource id,
    or several load balancers for one stack); the stack is stopped, nothing is written."""

    reason = "FailedDeployModel"


# -- symbolic values -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TargetGroupArn:
    """The ARN of the stack's target group ``resource_id`` (known, or created earlier)."""

    resource_id: str


@dataclass(frozen=True, slots=True)
class GroupId:
    """A security group id: the stack's frontend group, the backend group, or a literal id."""

    ref: SecurityGroupRef


# -- operations ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateSecurityGroup:
    name: str
    description: str
    tags: Mapping[str, str]
    ingress: tuple[IPPermission, ...]
    resource_id: str


@dataclass(frozen=True, slots=True)
class UpdateSecurityGroup:
    """Authorize missing and revoke extra inbound rules, and reconcile tags, on an owned group."""

    group_id: str
    resource_id: str
    authorize: tuple[IPPermission, ...] = ()
    revoke: tuple[Permission, ...] = ()
    tags: TagChanges = NO_TAG_CHANGES

    @property
    def empty(self) -> bool:
        return not (self.authorize or self.revoke) and self.tags.empty


@dataclass(frozen=True, slots=True)
class DeleteSecurityGroup:
    group_id: str
    tags: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class CreateTargetGroup:
    spec: TargetGroup
    vpc_id: str


@dataclass(frozen=True, slots=True)
class UpdateTargetGroup:
    """In-place changes to a kept target group (``health_check`` None: unchanged)."""

    arn: str
    resource_id: str
    health_check: HealthCheck | None = None
    attributes: tuple[Attribute, ...] = ()
    tags: TagChanges = NO_TAG_CHANGES

    @property
    def empty(self) -> bool:
        return self.health_check is None and not self.attributes and self.tags.empty


@dataclass(frozen=True, slots=True)
class DeleteTargetGroup:
    arn: str
    name: str
    tags: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class CreateLoadBalancer:
    spec: LoadBalancer


@dataclass(frozen=True, slots=True)
class UpdateLoadBalancer:
    """``security_groups`` / ``subnets`` None: unchanged; attributes are checked by the executor."""

    arn: str
    security_groups: tuple[GroupId, ...] | None = None
    current_security_groups: frozenset[str] = frozenset()
    subnets: tuple[str, ...] | None = None
    attributes: tuple[Attribute, ...] = ()
    tags: TagChanges = NO_TAG_CHANGES

    @property
    def empty(self) -> bool:
        return (
            self.security_groups is None
            and self.subnets is None
            and not self.attributes
            and self.tags.empty
        )


@dataclass(frozen=True, slots=True)
class DeleteLoadBalancer:
    arn: str
    name: str
    tags: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class CreateListener:
    port: int
    protocol: str
    default_actions: tuple[Action, ...]
    tags: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class UpdateListener:
    arn: str
    port: int
    protocol: str | None = None
    default_actions: tuple[Action, ...] | None = None
    tags: TagChanges = NO_TAG_CHANGES

    @property
    def empty(self) -> bool:
        return self.protocol is None and self.default_actions is None and self.tags.empty


@dataclass(frozen=True, slots=True)
class DeleteListener:
    arn: str
    port: int


@dataclass(frozen=True, slots=True)
class SetRulePriorities:
    """One call moving rules: ``(rule ARN, new priority)`` pairs."""

    listener_port: int
    priorities: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class CreateRule:
    spec: Rule


@dataclass(frozen=True, slots=True)
class UpdateRule:
    arn: str
    spec: Rule
    rewrite: bool
    """Whether conditions/actions change (ModifyRule); else only the tags do."""
    tags: TagChanges = NO_TAG_CHANGES

    @property
    def empty(self) -> bool:
        return not self.rewrite and self.tags.empty


@dataclass(frozen=True, slots=True)
class DeleteRule:
    arn: str
    listener_port: int
    priority: int


@dataclass(frozen=True, slots=True)
class ApplyBindings:
    """Create or update the stack's TargetGroupBindings (the shell pairs them by target-group
    ARN, deleting first a stale binding that holds a wanted name)."""


@dataclass(frozen=True, slots=True)
class DeleteUnwantedBindings:
    """Delete the stack's bindings whose target group is not wanted, and wait until gone."""


Operation = (
    CreateSecurityGroup
    | UpdateSecurityGroup
    | DeleteSecurityGroup
    | CreateTargetGroup
    | UpdateTargetGroup
    | DeleteTargetGroup
    | CreateLoadBalancer
    | UpdateLoadBalancer
    | DeleteLoadBalancer
    | CreateListener
    | UpdateListener
    | DeleteListener
    | SetRulePriorities
    | CreateRule
    | UpdateRule
    | DeleteRule
    | ApplyBindings
    | DeleteUnwantedBindings
)

_UPDATES = (UpdateSecurityGroup, UpdateTargetGroup, UpdateLoadBalancer, UpdateListener, UpdateRule)
"""The operations that may find nothing to do (``empty``: the tags and the rest in sync)."""

MUTATING_AWS = (
    CreateSecurityGroup,
    DeleteSecurityGroup,
    CreateTargetGroup,
    DeleteTargetGroup,
    CreateLoadBalancer,
    DeleteLoadBalancer,
    CreateListener,
    DeleteListener,
    SetRulePriorities,
    CreateRule,
    DeleteRule,
)


@dataclass(frozen=True, slots=True)
class ChangePlan:
    """Operations in execution order, and what is already known of the stack.

    ``target_groups`` maps resource id → ARN for the groups kept as they are (the executor adds
    the ones it creates); ``load_balancer_arn`` is the kept load balancer's, ``""`` when it
    will be created or the stack has none; ``frontend_group_id`` likewise.
    """

    operations: tuple[Operation, ...]
    target_groups: Mapping[str, str]
    load_balancer_arn: str = ""
    frontend_group_id: str = ""

    @property
    def creates(self) -> bool:
        """Whether the plan creates an AWS resource that has a name (LB, TG, SG)."""
        return any(
            isinstance(op, CreateLoadBalancer | CreateTargetGroup | CreateSecurityGroup)
            for op in self.operations
        )

    def aws_writes(self) -> tuple[Operation, ...]:
        """Operations that write to AWS (bindings and no-op updates excluded)."""
        return tuple(
            op
            for op in self.operations
            if not isinstance(op, ApplyBindings | DeleteUnwantedBindings) and not _noop(op)
        )


def _noop(op: Operation) -> bool:
    return isinstance(op, _UPDATES) and op.empty


# -- the planner -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Context:
    stack: Stack
    observed: ObservedStack
    ignored: frozenset[str]
    vpc_id: str
    forward: list[Operation] = field(default_factory=list)
    post: list[Operation] = field(default_factory=list)
    target_groups: dict[str, str] = field(default_factory=dict)

    def check_owned(self, tags: Mapping[str, str], what: str) -> None:
        if not owned(tags, self.stack.cluster_name, self.stack.id.prefix, self.stack.id.value):
            raise PlanError(f"{what} is not tagged for this cluster and stack")

    def resource_id(self, tags: Mapping[str, str], what: str) -> str:
        self.check_owned(tags, what)
        rid = tags.get(self.stack.id.resource_tag)
        if not rid:
            raise PlanError(
                f"{what} carries the stack tags but no {self.stack.id.resource_tag} tag; "
                "lbc will not guess which resource it is"
            )
        return rid

    def tags(self, desired: Tags, current: Mapping[str, str]) -> TagChanges:
        return tag_changes(dict(desired), current, self.ignored)


def plan_changes(
    stack: Stack,
    observed: ObservedStack,
    *,
    vpc_id: str,
    backend_group_id: str = "",
    external_tags: Iterable[str] = (),
) -> ChangePlan:
    """The ordered operations for ``stack`` given ``observed`` (see the module docstring).

    ``backend_group_id`` is the cluster's shared backend group when it exists already (``""``:
    the executor creates it first).
    """
    ignored = frozenset(legacy_tag_keys(stack.cluster_name)) | frozenset(external_tags)
    ctx = _Context(stack, observed, ignored, vpc_id)
    frontend_id = _plan_security_group(ctx)
    _plan_target_groups(ctx)
    lb_arn, listeners = _plan_load_balancer(ctx, frontend_id, backend_group_id)
    _plan_listeners(ctx, listeners)
    if stack.bindings:
        ctx.forward.append(ApplyBindings())
    # Post phase, reverse order: bindings, then target groups, then security groups. The
    # target-group and security-group deletions were collected in forward order; bindings
    # go first so no binding ever points at a deleted group.
    post: list[Operation] = [DeleteUnwantedBindings()]
    post += [op for op in ctx.post if isinstance(op, DeleteTargetGroup)]
    post += [op for op in ctx.post if isinstance(op, DeleteSecurityGroup)]
    return ChangePlan(
        operations=(*ctx.forward, *post),
        target_groups=dict(ctx.target_groups),
        load_balancer_arn=lb_arn,
        frontend_group_id=frontend_id,
    )


def _plan_security_group(ctx: _Context) -> str:
    desired = ctx.stack.security_group
    found = sorted(ctx.observed.security_groups, key=lambda g: g.group_id)
    matching: list[ObservedSecurityGroup] = []
    for group in found:
        rid = ctx.resource_id(group.tags, f"security group {group.group_id}")
        if desired is not None and rid == desired.resource_id:
            matching.append(group)
        else:
            ctx.post.append(DeleteSecurityGroup(group.group_id, group.tags))
    if desired is None:  # nothing matched: every group found is deleted above
        return ""
    if not matching:
        ctx.forward.append(
            CreateSecurityGroup(
                desired.name, desired.description, dict(desired.tags), desired.ingress,
                desired.resource_id,
            )
        )  # fmt: skip
        return ""
    keep, extra = matching[0], matching[1:]
    for group in extra:  # LBC keeps the first group per resource id and deletes the rest
        ctx.post.append(DeleteSecurityGroup(group.group_id, group.tags))
    wanted = {_permission(p): p for p in desired.ingress}
    tags = ctx.tags(desired.tags, keep.tags)
    ctx.forward.append(
        UpdateSecurityGroup(
            keep.group_id,
            desired.resource_id,
            authorize=tuple(p for key, p in wanted.items() if key not in keep.inbound),
            revoke=tuple(sorted(keep.inbound - wanted.keys(), key=repr)),
            tags=tags,
        )
    )
    return keep.group_id


def _permission(p: IPPermission) -> Permission:
    cidr = p.cidr_ipv4 or p.cidr_ipv6 or None
    return Permission(p.protocol, p.from_port, p.to_port, cidr=cidr)


def tg_requires_replacement(desired: TargetGroup, found: ObservedTargetGroup) -> bool:
    """LBC's rule: target type, protocol and protocol version cannot change in place."""
    if desired.target_type.value != found.target_type:
        return True
    if desired.protocol.value != found.protocol:
        return True
    wanted_version = desired.protocol_version.value if desired.protocol_version else None
    return wanted_version is not None and wanted_version != (found.protocol_version or None)


def health_check_params(hc: HealthCheck) -> dict[str, Any]:
    """The ModifyTargetGroup / CreateTargetGroup health-check parameters of ``hc``."""
    params: dict[str, Any] = {
        "HealthCheckProtocol": hc.protocol.value,
        "HealthCheckPort": hc.port,
        "HealthCheckIntervalSeconds": hc.interval_seconds,
        "HealthCheckTimeoutSeconds": hc.timeout_seconds,
        "HealthyThresholdCount": hc.healthy_threshold,
        "UnhealthyThresholdCount": hc.unhealthy_threshold,
    }
    if hc.path:
        params["HealthCheckPath"] = hc.path
    if hc.matcher is not None and hc.matcher.http_code:
        params["Matcher"] = {"HttpCode": hc.matcher.http_code}
    elif hc.matcher is not None and hc.matcher.grpc_code:
        params["Matcher"] = {"GrpcCode": hc.matcher.grpc_code}
    return params


def _health_differs(desired: HealthCheck, found: Mapping[str, Any]) -> bool:
    return any(found.get(k) != v for k, v in health_check_params(desired).items())


def _plan_target_groups(ctx: _Context) -> None:
    wanted = {tg.resource_id: tg for tg in ctx.stack.target_groups}
    kept: dict[str, list[ObservedTargetGroup]] = {}
    for found in sorted(ctx.observed.target_groups, key=lambda t: t.arn):
        rid = ctx.resource_id(found.tags, f"target group {found.arn}")
        desired = wanted.get(rid)
        if desired is None or tg_requires_replacement(desired, found):
            ctx.post.append(DeleteTargetGroup(found.arn, found.name, found.tags))
        else:
            kept.setdefault(rid, []).append(found)
    for rid, desired in wanted.items():
        groups = kept.get(rid, [])
        if not groups:
            ctx.forward.append(CreateTargetGroup(desired, ctx.vpc_id))
            continue
        # Several groups under one id: all are updated (LBC); the first carries the traffic.
        ctx.target_groups[rid] = groups[0].arn
        for found in groups:
            tags = ctx.tags(desired.tags, found.tags)
            ctx.forward.append(
                UpdateTargetGroup(
                    found.arn,
                    rid,
                    health_check=(
                        desired.health_check
                        if _health_differs(desired.health_check, found.health_check)
                        else None
                    ),
                    attributes=desired.attributes,
                    tags=tags,
                )
            )


def lb_requires_replacement(desired: LoadBalancer, found: ObservedLoadBalancer) -> bool:
    """LBC's rule: a load balancer's type and scheme cannot change in place."""
    return desired.type.value != found.type or desired.scheme.value != found.scheme


def _plan_load_balancer(
    ctx: _Context, frontend_id: str, backend_id: str
) -> tuple[str, tuple[ObservedListener, ...]]:
    desired = ctx.stack.load_balancer
    keep: list[ObservedLoadBalancer] = []
    for found in sorted(ctx.observed.load_balancers, key=lambda lb: lb.arn):
        rid = ctx.resource_id(found.tags, f"load balancer {found.arn}")
        if desired is None or rid != desired.resource_id or lb_requires_replacement(desired, found):
            # Deleted in the forward phase, before any create: AWS refuses a second load
            # balancer with the same name, and the listeners and rules go with it.
            ctx.forward.append(DeleteLoadBalancer(found.arn, found.name, found.tags))
        else:
            keep.append(found)
    if desired is None:
        return "", ()
    if len(keep) > 1:
        raise PlanError(
            f"{len(keep)} load balancers carry this stack's tags and resource id "
            f"({', '.join(lb.arn for lb in keep)}); lbc will not pick one"
        )
    if not keep:
        ctx.forward.append(CreateLoadBalancer(desired))
        return "", ()
    found = keep[0]
    tags = ctx.tags(desired.tags, found.tags)
    groups = tuple(GroupId(ref) for ref in desired.security_groups)
    known = bool(frontend_id) and bool(backend_id)
    same_groups = known and frozenset(resolve_groups(groups, frontend_id, backend_id)) == (
        found.security_groups
    )
    ctx.forward.append(
        UpdateLoadBalancer(
            found.arn,
            # Unknown ids (a group still to be created) are resolved and compared by the executor.
            security_groups=None if (same_groups or not desired.security_groups) else groups,
            current_security_groups=found.security_groups,
            subnets=(
                desired.subnets
                if desired.subnets and frozenset(desired.subnets) != found.subnets
                else None
            ),
            attributes=desired.attributes,
            tags=tags,
        )
    )
    return found.arn, ctx.observed.listeners.get(found.arn, ())


def action_key(action: Action, target_groups: Mapping[str, str]) -> tuple[Any, ...]:
    """The canonical form of a desired action, comparable with an observed one.

    A forward to a group that does not exist yet gets a placeholder ARN no observed rule can
    hold, so it never pairs by identity.
    """
    key: tuple[Any, ...] = canonical_actions([api_action(action, target_groups)])[0]
    return key


def api_action(action: Action, target_groups: Mapping[str, str], order: int = 1) -> dict[str, Any]:
    """The ELBv2 API form LBC writes (typed ``ForwardConfig``/``FixedResponseConfig``)."""
    if isinstance(action, FixedResponseAction):
        config: dict[str, Any] = {"StatusCode": action.status_code}
        if action.content_type:
            config["ContentType"] = action.content_type
        if action.message_body:
            config["MessageBody"] = action.message_body
        return {"Type": "fixed-response", "Order": order, "FixedResponseConfig": config}
    if not isinstance(action, ForwardAction):  # pragma: no cover - the model has two actions
        raise TypeError(f"unsupported action {action!r}")
    arn = target_groups.get(action.target_group_id, f"<new:{action.target_group_id}>")
    return {
        "Type": "forward",
        "Order": order,
        "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": arn}]},
    }


def api_actions(actions: Sequence[Action], target_groups: Mapping[str, str]) -> list[Any]:
    return [api_action(a, target_groups, n) for n, a in enumerate(actions, start=1)]


def api_conditions(rule: Rule) -> list[dict[str, Any]]:
    out = []
    for cond in rule.conditions:
        key = "PathPatternConfig" if cond.field.value == "path-pattern" else "HostHeaderConfig"
        out.append({"Field": cond.field.value, key: {"Values": list(cond.values)}})
    return out


def _rule_key(rule: Rule, target_groups: Mapping[str, str]) -> tuple[Any, Any]:
    return (
        canonical_conditions(api_conditions(rule)),
        tuple(action_key(a, target_groups) for a in rule.actions),
    )


def _plan_listeners(ctx: _Context, found: tuple[ObservedListener, ...]) -> None:
    by_port = {li.port: li for li in found}
    wanted = {li.port: li for li in ctx.stack.listeners}
    for port, li in sorted(by_port.items()):
        if port not in wanted:
            ctx.forward.append(DeleteListener(li.arn, port))
    for port, desired in sorted(wanted.items()):
        existing = by_port.get(port)
        if existing is None:
            ctx.forward.append(
                CreateListener(
                    port, desired.protocol.value, desired.default_actions, dict(desired.tags)
                )
            )
            continue
        same_actions = existing.default_actions == tuple(
            action_key(a, ctx.target_groups) for a in desired.default_actions
        )
        tags = ctx.tags(desired.tags, existing.tags)
        ctx.forward.append(
            UpdateListener(
                existing.arn,
                port,
                protocol=None if existing.protocol == desired.protocol.value else desired.protocol,
                default_actions=None if same_actions else desired.default_actions,
                tags=tags,
            )
        )
    for port in sorted(wanted):
        rules = tuple(r for r in ctx.stack.rules if r.listener_port == port)
        existing = by_port.get(port)
        _plan_rules(ctx, port, rules, existing.rules if existing is not None else ())


def _plan_rules(
    ctx: _Context, port: int, desired: tuple[Rule, ...], found: tuple[ObservedRule, ...]
) -> None:
    remaining = list(found)
    by_identity, unmatched = _pair_off(
        sorted(desired, key=lambda r: r.priority),
        remaining,
        lambda r: _rule_key(r, ctx.target_groups),
        lambda o: (o.conditions, o.actions),
    )
    by_priority, to_create = _pair_off(
        unmatched, remaining, lambda r: r.priority, lambda o: o.priority
    )
    # Rules that only move: one SetRulePriorities. A rule about to be deleted that holds a
    # priority one of them moves to is moved out of the way in the same call.
    moves = [(o.arn, r.priority) for r, o in by_identity if o.priority != r.priority]
    if moves:
        targets = {p for _, p in moves}
        held = {o.priority for o in found}
        free = (p for p in range(FREE_PRIORITY_TOP, 0, -1) if p not in held | targets)
        moves += [(o.arn, next(free)) for o in remaining if o.priority in targets]
        ctx.forward.append(SetRulePriorities(port, tuple(moves)))
    # Rules paired by identity keep conditions and actions; those paired by priority are rewritten.
    for rewrite, pairs in ((False, by_identity), (True, by_priority)):
        ctx.forward.extend(
            UpdateRule(o.arn, r, rewrite, ctx.tags(r.tags, o.tags)) for r, o in pairs
        )
    ctx.forward.extend(CreateRule(rule) for rule in to_create)
    ctx.forward.extend(DeleteRule(o.arn, port, o.priority) for o in remaining)


def _pair_off(
    rules: Iterable[Rule],
    remaining: list[ObservedRule],
    rule_key: Callable[[Rule], object],
    found_key: Callable[[ObservedRule], object],
) -> tuple[list[tuple[Rule, ObservedRule]], list[Rule]]:
    """Each rule paired, in order, with the first of ``remaining`` whose key equals its own;
    a paired observed rule leaves ``remaining``. The pairs, and the rules left unpaired."""
    pairs: list[tuple[Rule, ObservedRule]] = []
    unpaired: list[Rule] = []
    for rule in rules:
        key = rule_key(rule)
        twin = next((o for o in remaining if found_key(o) == key), None)
        if twin is None:
            unpaired.append(rule)
        else:
            remaining.remove(twin)
            pairs.append((rule, twin))
    return pairs, unpaired


def resolve_groups(groups: Sequence[GroupId], frontend: str, backend: str) -> tuple[str, ...]:
    """Security-group ids for references, once the frontend and backend ids are known."""
    out = []
    for g in groups:
        if g.ref.kind is SecurityGroupRefKind.FRONTEND:
            out.append(frontend)
        elif g.ref.kind is SecurityGroupRefKind.BACKEND:
            out.append(backend)
        else:
            out.append(g.ref.group_id)
    return tuple(out)
