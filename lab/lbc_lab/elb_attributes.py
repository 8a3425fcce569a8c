"""Target-group attribute validation as ELBv2 does it (the ``tg_attributes`` fidelity rule).

moto accepts any key in ModifyTargetGroupAttributes, and a key of the other load-balancer family
(``proxy_protocol_v2.enabled`` on an HTTP group), so an annotation parser that produces a wrong
key passes in the lab and fails on AWS; and it refuses ``deregistration_delay.timeout_seconds``
3600, which AWS allows (0-3600 inclusive). With the rule on, a key that is not an attribute of
the group's protocol fails ``ValidationError`` ("Target group attribute key '…' is not
recognized"), 3600 is accepted and values outside 0-3600 are refused. The key lists are ELBv2's
documented attributes per protocol family.
"""

from __future__ import annotations

from typing import Any

from moto.elbv2.exceptions import ELBClientError

from lbc_lab.elb_rules import StackRules

_DELAY = "deregistration_delay.timeout_seconds"
_COMMON = frozenset(
    {
        _DELAY,
        "stickiness.enabled",
        "stickiness.type",
        "load_balancing.cross_zone.enabled",
        "target_group_health.dns_failover.minimum_healthy_targets.count",
        "target_group_health.dns_failover.minimum_healthy_targets.percentage",
        "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count",
        "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage",
    }
)
#: Groups behind application load balancers (HTTP, HTTPS; lambda targets).
_APPLICATION = _COMMON | {
    "load_balancing.algorithm.type",
    "load_balancing.algorithm.anomaly_mitigation",
    "slow_start.duration_seconds",
    "stickiness.app_cookie.cookie_name",
    "stickiness.app_cookie.duration_seconds",
    "stickiness.lb_cookie.duration_seconds",
    "lambda.multi_value_headers.enabled",
}
#: Groups behind network load balancers (TCP, UDP, TCP_UDP, TLS).
_NETWORK = _COMMON | {
    "deregistration_delay.connection_termination.enabled",
    "preserve_client_ip.enabled",
    "proxy_protocol_v2.enabled",
    "target_health_state.unhealthy.connection_termination.enabled",
    "target_health_state.unhealthy.draining_interval_seconds",
}
#: Groups behind gateway load balancers (GENEVE).
_GATEWAY = _COMMON | {"target_failover.on_deregistration", "target_failover.on_unhealthy"}


def known_keys(protocol: str | None) -> frozenset[str]:
    if protocol in ("TCP", "UDP", "TCP_UDP", "TLS"):
        return frozenset(_NETWORK)
    if protocol == "GENEVE":
        return frozenset(_GATEWAY)
    return frozenset(_APPLICATION)


class AttributeFidelity:
    """ModifyTargetGroupAttributes with ELBv2's keys and ranges (mixed in before moto's)."""

    lab: Any
    target_groups: dict[str, Any]

    def modify_target_group_attributes(
        self, target_group_arn: str, attributes: dict[str, Any]
    ) -> None:
        rules: StackRules = self.lab.settings.stacks
        group = self.target_groups.get(target_group_arn)
        if not rules.tg_attributes or group is None:
            super().modify_target_group_attributes(target_group_arn, attributes)  # type: ignore[misc]
            return
        keys = known_keys(group.protocol)
        for key in attributes:
            if key not in keys:
                raise ELBClientError(
                    "ValidationError", f"Target group attribute key '{key}' is not recognized"
                )
        delay = attributes.get(_DELAY)
        passed = dict(attributes)
        if delay is not None:
            try:
                seconds = int(delay)
            except ValueError:
                seconds = -1
            if not 0 <= seconds <= 3600:
                raise ELBClientError(
                    "ValidationError",
                    f"'{_DELAY}' value '{delay}' must be between '0-3600' inclusive",
                )
            passed.pop(_DELAY)  # moto refuses 3600; the value is stored below
        super().modify_target_group_attributes(target_group_arn, passed)  # type: ignore[misc]
        if delay is not None:
            group.attributes[_DELAY] = str(delay)
