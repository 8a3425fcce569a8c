"""Listener/target-group protocol pairs and unknown ARNs, refused as ELBv2 refuses them.

Two fidelity rules (see :mod:`lbc_lab.elb_rules`):

- ``protocol_match``: a listener or rule may forward only to groups whose protocol its own
  protocol can carry: HTTP/HTTPS listeners to HTTP/HTTPS groups (or groups without a protocol,
  lambda targets); TCP to TCP and TCP_UDP; UDP to UDP and TCP_UDP; TCP_UDP to TCP_UDP; TLS to TCP
  and TLS. Anything else fails ``IncompatibleProtocols`` (moto lets an NLB TCP listener forward to
  an HTTP group). Groups of other protocols (QUIC, TCP_QUIC, GENEVE) are not checked.
- ``not_found``: DeleteRule of a rule that does not exist fails ``RuleNotFound``, and
  DescribeListeners naming a listener that does not exist fails ``ListenerNotFound`` even when
  other named listeners exist (moto answers both quietly).
"""

from __future__ import annotations

from typing import Any

from moto.elbv2.exceptions import ELBClientError

from lbc_lab.elb_rules import StackRules

_CARRIES: dict[str, set[str | None]] = {
    "HTTP": {"HTTP", "HTTPS", None},
    "HTTPS": {"HTTP", "HTTPS", None},
    "TCP": {"TCP", "TCP_UDP"},
    "UDP": {"UDP", "TCP_UDP"},
    "TCP_UDP": {"TCP_UDP"},
    "TLS": {"TCP", "TLS"},
}

#: Group protocols the rule knows pairs for; others (QUIC, GENEVE, ...) are not checked.
_KNOWN = frozenset({"HTTP", "HTTPS", "TCP", "UDP", "TCP_UDP", "TLS", None})


class CheckFidelity:
    """Protocol pairs and NotFound answers (mixed in before moto's backend)."""

    lab: Any
    load_balancers: dict[str, Any]
    target_groups: dict[str, Any]

    def _checks(self) -> StackRules:
        rules: StackRules = self.lab.settings.stacks
        return rules

    def _check_protocols(self, protocol: str | None, actions: list[Any]) -> None:
        carried = _CARRIES.get(str(protocol or "").upper())
        if not self._checks().protocol_match or carried is None:
            return
        for action in actions or []:
            data = getattr(action, "data", action)
            arns = self._get_target_group_arns_from(action_data=data)  # type: ignore[attr-defined]
            for arn in arns if data.get("Type") == "forward" else ():
                group = self.target_groups.get(arn)
                if (
                    group is not None
                    and group.target_type != "alb"
                    and group.protocol in _KNOWN
                    and group.protocol not in carried
                ):
                    raise ELBClientError(
                        "IncompatibleProtocols",
                        f"The listener protocol '{protocol}' is not compatible with the protocol"
                        f" '{group.protocol}' of target group '{arn}'",
                    )

    def _listener_protocol(self, listener_arn: str) -> str | None:
        for lb in self.load_balancers.values():
            listener = lb.listeners.get(listener_arn)
            if listener is not None:
                return str(listener.protocol)
        return None

    def create_listener(self, *args: Any, **kwargs: Any) -> Any:
        protocol = kwargs.get("protocol", args[1] if len(args) > 1 else None)
        actions = kwargs.get("actions", args[5] if len(args) > 5 else [])
        self._check_protocols(protocol, actions)
        return super().create_listener(*args, **kwargs)  # type: ignore[misc]

    def modify_listener(self, *args: Any, **kwargs: Any) -> Any:
        arn = kwargs.get("arn", args[0] if args else "")
        protocol = kwargs.get("protocol", args[2] if len(args) > 2 else None)
        actions = kwargs.get("actions", args[5] if len(args) > 5 else None)
        current = self._listener_protocol(arn)
        if actions:
            self._check_protocols(protocol or current, actions)
        return super().modify_listener(*args, **kwargs)  # type: ignore[misc]

    def create_rule(self, *args: Any, **kwargs: Any) -> Any:
        listener_arn = kwargs.get("listener_arn", args[0] if args else "")
        actions = kwargs.get("actions", args[3] if len(args) > 3 else [])
        self._check_protocols(self._listener_protocol(listener_arn), actions)
        return super().create_rule(*args, **kwargs)  # type: ignore[misc]

    def modify_rule(self, *args: Any, **kwargs: Any) -> Any:
        rule_arn = kwargs.get("rule_arn", args[0] if args else "")
        actions = kwargs.get("actions", args[2] if len(args) > 2 else [])
        listener_arn = str(rule_arn).replace(":listener-rule/", ":listener/").rsplit("/", 1)[0]
        self._check_protocols(self._listener_protocol(listener_arn), actions)
        return super().modify_rule(*args, **kwargs)  # type: ignore[misc]

    def delete_rule(self, arn: str) -> None:
        if self._checks().not_found and not any(
            arn in listener.rules
            for lb in self.load_balancers.values()
            for listener in lb.listeners.values()
        ):
            raise ELBClientError("RuleNotFound", "One or more rules not found")
        super().delete_rule(arn)  # type: ignore[misc]

    def describe_listeners(self, load_balancer_arn: str | None, listener_arns: list[str]) -> Any:
        if self._checks().not_found and listener_arns:
            known = {arn for lb in self.load_balancers.values() for arn in lb.listeners}
            if any(arn not in known for arn in listener_arns):
                raise ELBClientError("ListenerNotFound", "One or more listeners not found")
        return super().describe_listeners(load_balancer_arn, listener_arns)  # type: ignore[misc]
