"""The stack half of the fidelity layer: load balancers, listeners, rules, group associations.

A mixin over moto's ELBv2 backend, placed before it in
:class:`~lbc_lab.elb_backend.LabElbv2Backend`'s bases. Every override checks its rule in
:class:`~lbc_lab.elb_rules.StackRules` (``self.lab.settings.stacks``) and, when the rule is off,
is exactly moto's method. The rules and the AWS behaviour they reproduce are listed in
:mod:`lbc_lab.elb_rules`.

Idempotent creates are decided by building the candidate with moto's own code (its defaults
and validation) and comparing it with the existing resource; the candidate is then dropped, so
a repeated create leaves no trace but the answer.

Group associations: with ``tg_load_balancers_live`` every write that can change what forwards
where recomputes each group's ``load_balancer_arns`` from the live listeners and rules (the
health emulation reads that list to decide ``unused`` / ``Target.NotInUse``).
"""

from __future__ import annotations

import re
from typing import Any

from moto.elbv2.exceptions import ELBClientError
from moto.elbv2.models import FakeAction, FakeLoadBalancer, FakeTargetGroup

from lbc_lab.elb_clock import LabClock
from lbc_lab.elb_rules import StackRules

_LB_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$")
_NLB_PROTOCOLS = ("TCP", "UDP", "TCP_UDP", "TLS")
_TG_SETTINGS = (
    "protocol",
    "protocol_version",
    "port",
    "vpc_id",
    "target_type",
    "ip_address_type",
    "health_check_protocol",
    "health_check_port",
    "health_check_path",
    "health_check_interval_seconds",
    "health_check_timeout_seconds",
    "health_check_enabled",
    "healthy_threshold_count",
    "unhealthy_threshold_count",
)


def _fail(code: str, message: str) -> ELBClientError:
    return ELBClientError(code, message)


class StackFidelity:
    """Overrides of moto's ELBv2 backend for the stack rules (mixed in before moto's class)."""

    # Provided by the concrete backend (LabElbv2Backend and moto's ELBv2Backend).
    lab: Any
    load_balancers: dict[str, FakeLoadBalancer]
    target_groups: dict[str, FakeTargetGroup]
    tagging_service: Any
    region_name: str

    def _rules(self) -> StackRules:
        rules: StackRules = self.lab.settings.stacks
        return rules

    def _clock(self) -> LabClock:
        clock: LabClock = self.lab.clock
        return clock

    # -- load balancers -----------------------------------------------------------------------

    def create_load_balancer(  # noqa: PLR0917 - moto's signature
        self,
        name: str,
        security_groups: list[str],
        subnet_ids: list[str],
        subnet_mappings: list[dict[str, str]] | None = None,
        scheme: str = "internet-facing",
        loadbalancer_type: str | None = None,
        ip_address_type: str = "ipv4",
        tags: list[dict[str, str]] | None = None,
    ) -> FakeLoadBalancer:
        rules = self._rules()
        if rules.create_validation:
            self._validate_new_load_balancer(
                name, security_groups, subnet_ids, subnet_mappings, loadbalancer_type
            )
        if rules.tag_limits and len(tags or []) > 50:
            raise _fail("TooManyTags", "The quota for the number of tags has been reached")
        existing = next((lb for lb in self.load_balancers.values() if lb.name == name), None)
        created: FakeLoadBalancer = super().create_load_balancer(  # type: ignore[misc]
            name,
            security_groups,
            subnet_ids,
            subnet_mappings,
            scheme,
            loadbalancer_type,
            ip_address_type,
            tags,
        )
        if existing is not None and rules.lb_name_unique:
            self._drop(self.load_balancers, created.arn)
            if _lb_settings(existing) != _lb_settings(created):
                raise _fail(
                    "DuplicateLoadBalancerName",
                    "A load balancer with the same name exists, but with different settings",
                )
            return existing
        created.lab_created_at = self._clock().now()  # type: ignore[attr-defined]
        created.lab_with_security_groups = bool(security_groups)  # type: ignore[attr-defined]
        if rules.dns_names:
            created.dns_name = _dns_name(created, self.region_name)
        return created

    def _validate_new_load_balancer(
        self,
        name: str,
        security_groups: list[str],
        subnet_ids: list[str],
        subnet_mappings: list[dict[str, str]] | None,
        loadbalancer_type: str | None,
    ) -> None:
        if len(name or "") > 32:
            raise _fail(
                "ValidationError", "The load balancer name cannot be longer than 32 characters"
            )
        if not _LB_NAME.match(name or ""):
            raise _fail(
                "ValidationError",
                f"The load balancer name '{name}' can only contain alphanumeric characters and"
                " hyphens, and cannot begin or end with a hyphen",
            )
        if name.lower().startswith("internal-"):
            raise _fail("ValidationError", "The load balancer name cannot begin with 'internal-'")
        ec2 = self._ec2()  # type: ignore[attr-defined]
        for group_id in security_groups or []:
            if ec2.get_security_group_from_id(group_id) is None:
                raise _fail("InvalidSecurityGroup", f"Security group '{group_id}' does not exist")
        ids = list(subnet_ids or []) + [m["SubnetId"] for m in subnet_mappings or []]
        zones: list[str] = []
        for subnet_id in ids:
            subnet = ec2.get_subnet(subnet_id)
            if subnet.availability_zone in zones:
                raise _fail(
                    "InvalidConfigurationRequest",
                    "You cannot specify multiple subnets in the same Availability Zone",
                )
            zones.append(subnet.availability_zone)
        if (loadbalancer_type or "application") == "application" and len(zones) < 2:
            raise _fail(
                "InvalidConfigurationRequest",
                "At least two subnets in two different Availability Zones must be specified",
            )

    def describe_load_balancers(
        self, arns: list[str] | None, names: list[str] | None
    ) -> list[FakeLoadBalancer]:
        found: list[FakeLoadBalancer] = super().describe_load_balancers(arns, names)  # type: ignore[misc]
        rules = self._rules()
        if rules.provisioning:
            now = self._clock().now()
            for lb in found:
                started = getattr(lb, "lab_created_at", None)
                if started is not None:
                    ready = now - started >= rules.provisioning_seconds
                    lb.state = "active" if ready else "provisioning"
        return found

    def delete_load_balancer(self, arn: str) -> None:
        rules = self._rules()
        lb = self.load_balancers.get(arn)
        if (
            lb is not None
            and rules.deletion_protection
            and lb.attrs.get("deletion_protection.enabled") == "true"
        ):
            raise _fail(
                "OperationNotPermitted",
                f"Load balancer '{arn}' cannot be deleted because deletion protection is enabled",
            )
        used = self._forwarded_by(arn) if lb is not None else set()
        super().delete_load_balancer(arn)  # type: ignore[misc]
        if lb is not None:
            self.tagging_service.delete_all_tags_for_resource(arn)
        now = self._clock().now()
        for group_arn in used:
            group = self.target_groups.get(group_arn)
            if group is not None:
                group.lab_released_at = now  # type: ignore[attr-defined]
        self._sync_associations()

    def set_security_groups(self, arn: str, sec_groups: list[str]) -> None:
        lb = self.load_balancers.get(arn)
        if (
            lb is not None
            and self._rules().nlb_rules
            and lb.type == "network"
            and not getattr(lb, "lab_with_security_groups", True)
        ):
            raise _fail(
                "InvalidConfigurationRequest",
                "You cannot set security groups on a Network Load Balancer which was created"
                " without any security groups",
            )
        super().set_security_groups(arn, sec_groups)  # type: ignore[misc]
        if lb is not None and sec_groups:
            lb.lab_with_security_groups = True  # type: ignore[attr-defined]

    def set_subnets(
        self, arn: str, subnets: list[str], subnet_mappings: list[dict[str, Any]]
    ) -> list[Any]:
        lb = self.load_balancers.get(arn)
        if lb is None or lb.type != "network" or not self._rules().nlb_rules:
            result: list[Any] = super().set_subnets(arn, subnets, subnet_mappings)  # type: ignore[misc]
            return result
        from moto.elbv2.models import AvailabilityZone  # noqa: PLC0415 - moto's own type

        ec2 = self._ec2()  # type: ignore[attr-defined]
        chosen: list[Any] = []
        for subnet_id in list(subnets) + [m["SubnetId"] for m in subnet_mappings]:
            subnet = ec2.get_subnet(subnet_id)
            if any(s.availability_zone == subnet.availability_zone for s in chosen):
                raise _fail(
                    "InvalidConfigurationRequest",
                    "More than 1 subnet cannot be specified for 1 availability zone",
                )
            chosen.append(subnet)
        if not chosen:
            raise _fail("ValidationError", "At least one subnet must be specified")
        lb.subnets = chosen
        return [AvailabilityZone(s) for s in chosen]

    # -- target groups ------------------------------------------------------------------------

    def create_target_group(self, name: str, **kwargs: Any) -> FakeTargetGroup:
        existing = next((g for g in self.target_groups.values() if g.name == name), None)
        if existing is None or not self._rules().tg_idempotent_create:
            created: FakeTargetGroup = super().create_target_group(name, **kwargs)  # type: ignore[misc]
            return created
        # moto refuses any second group of one name: build the candidate with the existing
        # group renamed for the moment, compare, and keep only the existing group.
        existing.name = "\x00lab-existing"
        try:
            candidate: FakeTargetGroup = super().create_target_group(name, **kwargs)  # type: ignore[misc]
        finally:
            existing.name = name
        self._drop(self.target_groups, candidate.arn)
        if _tg_settings(candidate) != _tg_settings(existing):
            raise _fail("DuplicateTargetGroupName", "A target group with the same name exists")
        return existing

    def delete_target_group(self, target_group_arn: str) -> FakeTargetGroup:
        rules = self._rules()
        group = self.target_groups.get(target_group_arn)
        released = getattr(group, "lab_released_at", None)
        if (
            released is not None
            and rules.tg_in_use_window
            and self._clock().now() - released < rules.tg_in_use_seconds
        ):
            raise _fail(
                "ResourceInUse",
                f"Target group '{target_group_arn}' is currently in use by a listener or a rule",
            )
        deleted: FakeTargetGroup = super().delete_target_group(target_group_arn)  # type: ignore[misc]
        self.tagging_service.delete_all_tags_for_resource(target_group_arn)
        return deleted

    # -- listeners and rules ------------------------------------------------------------------

    def create_listener(  # noqa: PLR0917 - moto's signature
        self,
        load_balancer_arn: str,
        protocol: str,
        port: str,
        ssl_policy: str,
        certificate: str | None,
        actions: list[dict[str, Any]],
        alpn_policy: list[str] | None = None,
        tags: list[dict[str, str]] | None = None,
    ) -> Any:
        rules = self._rules()
        lb = self.load_balancers.get(load_balancer_arn)
        if (
            lb is not None
            and rules.listener_port_unique
            and any(str(li.port) == str(port) for li in lb.listeners.values())
        ):
            raise _fail("DuplicateListener", "A listener already exists on this port")
        self._check_association(load_balancer_arn, actions)
        listener = super().create_listener(  # type: ignore[misc]
            load_balancer_arn, protocol, port, ssl_policy, certificate, actions, alpn_policy, tags
        )
        self._sync_associations()
        return listener

    def modify_listener(  # noqa: PLR0917 - moto's signature
        self,
        arn: str,
        port: str | None = None,
        protocol: str | None = None,
        ssl_policy: str | None = None,
        certificates: list[dict[str, Any]] | None = None,
        actions: list[dict[str, Any]] | None = None,
    ) -> Any:
        listener = self._listener(arn)
        if listener is not None:
            self._check_association(listener.load_balancer_arn, actions or [])
            lb = self.load_balancers[listener.load_balancer_arn]
            if (
                port is not None
                and self._rules().listener_port_unique
                and any(str(li.port) == str(port) and li.arn != arn for li in lb.listeners.values())
            ):
                raise _fail("DuplicateListener", "A listener already exists on this port")
        nlb_protocol = None
        if (
            listener is not None
            and self._rules().nlb_rules
            and protocol in _NLB_PROTOCOLS
            and protocol != "TCP"
        ):
            nlb_protocol, protocol = protocol, None
        result = super().modify_listener(  # type: ignore[misc]
            arn, port, protocol, ssl_policy, certificates, actions
        )
        if nlb_protocol is not None:
            result.protocol = nlb_protocol
        self._sync_associations()
        return result

    def delete_listener(self, listener_arn: str) -> Any:
        listener = super().delete_listener(listener_arn)  # type: ignore[misc]
        self.tagging_service.delete_all_tags_for_resource(listener_arn)
        self._sync_associations()
        return listener

    def create_rule(
        self,
        listener_arn: str,
        conditions: list[dict[str, Any]],
        priority: int,
        actions: list[dict[str, Any]],
        tags: list[dict[str, str]] | None = None,
    ) -> Any:
        listener = self._listener(listener_arn)
        if listener is not None:
            self._check_association(listener.load_balancer_arn, actions)
        rule = super().create_rule(listener_arn, conditions, priority, actions, tags)  # type: ignore[misc]
        self._sync_associations()
        return rule

    def modify_rule(
        self, rule_arn: str, conditions: list[dict[str, Any]], actions: list[dict[str, Any]]
    ) -> Any:
        listener = self._listener_of_rule(rule_arn)
        if listener is not None:
            self._check_association(listener.load_balancer_arn, actions)
        rule = super().modify_rule(rule_arn, conditions, actions)  # type: ignore[misc]
        self._sync_associations()
        return rule

    def delete_rule(self, arn: str) -> None:
        super().delete_rule(arn)  # type: ignore[misc]
        self.tagging_service.delete_all_tags_for_resource(arn)
        self._sync_associations()

    def set_rule_priorities(self, rule_priorities: list[dict[str, Any]]) -> list[Any]:
        if not self._rules().rule_priority_swaps:
            result: list[Any] = super().set_rule_priorities(rule_priorities)  # type: ignore[misc]
            return result
        moved: dict[str, int] = {}
        for entry in rule_priorities:
            priority = int(entry["Priority"])
            if priority in moved.values():
                raise _fail("PriorityInUse", f"Priority '{priority}' was provided multiple times")
            moved[entry["RuleArn"]] = priority
        found: list[tuple[Any, Any, int]] = []
        for rule_arn, priority in moved.items():
            listener = self._listener_of_rule(rule_arn)
            if listener is None:
                raise _fail("RuleNotFound", "One or more rules not found")
            rule = listener.rules[rule_arn]
            if getattr(rule, "is_default", False) or rule.priority == "default":
                raise _fail("OperationNotPermitted", "Default rule priority cannot be modified")
            found.append((listener, rule, priority))
        for listener, _rule, priority in found:
            for other_arn, other in listener.rules.items():
                if other_arn not in moved and str(other.priority) == str(priority):
                    raise _fail("PriorityInUse", f"Priority '{priority}' is currently in use")
        for _listener, rule, priority in found:
            rule.priority = priority
        return [rule for _listener, rule, _priority in found]

    # -- associations -------------------------------------------------------------------------

    def _forwarded(self, actions: list[Any]) -> set[str]:
        out: set[str] = set()
        for action in actions:
            data = action.data if isinstance(action, FakeAction) else action
            if data.get("Type", data.get("type")) == "forward" or "ForwardConfig" in data:
                out.update(self._get_target_group_arns_from(action_data=data))  # type: ignore[attr-defined]
        return out

    def _forwarded_by(self, load_balancer_arn: str) -> set[str]:
        lb = self.load_balancers.get(load_balancer_arn)
        out: set[str] = set()
        for listener in lb.listeners.values() if lb is not None else ():
            for rule in listener.rules.values():
                out |= self._forwarded(list(rule.actions))
        return out

    def _check_association(self, load_balancer_arn: str, actions: list[Any]) -> None:
        if not self._rules().tg_single_load_balancer:
            return
        taken = []
        for group_arn in sorted(self._forwarded(actions)):
            others = {
                arn
                for arn in self.load_balancers
                if arn != load_balancer_arn and group_arn in self._forwarded_by(arn)
            }
            if others:
                taken.append(group_arn)
        if taken:
            raise _fail(
                "TargetGroupAssociationLimit",
                "The following target groups cannot be associated with more than one load"
                f" balancer: {', '.join(taken)}",
            )

    def _sync_associations(self) -> None:
        if not self._rules().tg_load_balancers_live:
            return
        users: dict[str, list[str]] = {arn: [] for arn in self.target_groups}
        for lb_arn in self.load_balancers:
            for group_arn in sorted(self._forwarded_by(lb_arn)):
                if group_arn in users:
                    users[group_arn].append(lb_arn)
        for group_arn, lb_arns in users.items():
            self.target_groups[group_arn].load_balancer_arns = lb_arns

    # -- lookups ------------------------------------------------------------------------------

    def _listener(self, listener_arn: str) -> Any:
        for lb in self.load_balancers.values():
            if listener_arn in lb.listeners:
                return lb.listeners[listener_arn]
        return None

    def _listener_of_rule(self, rule_arn: str) -> Any:
        for lb in self.load_balancers.values():
            for listener in lb.listeners.values():
                if rule_arn in listener.rules:
                    return listener
        return None

    def _drop(self, table: dict[str, Any], arn: str) -> None:
        table.pop(arn, None)
        self.tagging_service.delete_all_tags_for_resource(arn)


def _lb_settings(lb: FakeLoadBalancer) -> tuple[Any, ...]:
    return (
        lb.type,
        lb.scheme,
        lb.ip_address_type,
        frozenset(s.id for s in lb.subnets),
        frozenset(lb.security_groups or ()),
    )


def _tg_settings(group: FakeTargetGroup) -> tuple[Any, ...]:
    values = tuple(str(getattr(group, name, None)) for name in _TG_SETTINGS)
    return (*values, str(getattr(group, "matcher", None)))


def _dns_name(lb: FakeLoadBalancer, region: str) -> str:
    """AWS's shapes: the id is the ARN's for network load balancers, digits for application."""
    lb_id = lb.arn.rsplit("/", 1)[-1]
    if lb.type == "network":
        return f"{lb.name}-{lb_id}.elb.{region}.amazonaws.com"
    prefix = "internal-" if lb.scheme == "internal" else ""
    digits = int(lb_id, 16) % 9_000_000_000 + 1_000_000_000
    return f"{prefix}{lb.name}-{digits}.{region}.elb.amazonaws.com"
