"""Response shapes of ELBv2 that moto echoes from the request instead (fidelity rules).

- ``rule_shapes``: moto returns a listener's or rule's actions and conditions as they were sent.
  ELBv2 answers with both forms of each: a forward action carries ``TargetGroupArn`` (when it
  forwards to one group) and a ``ForwardConfig`` (weight 1, stickiness off), and an ``Order``
  (its position when none was sent); ``path-pattern`` and ``host-header`` conditions carry both
  ``Values`` and their typed ``PathPatternConfig`` / ``HostHeaderConfig``. A comparator that
  only works on the request's shape passes on moto and flaps on AWS; with the rule on it fails
  in the lab too. (The ``Order`` and the doubled forms are AWS's documented examples, not a
  probe of the live service.)
- ``empty_describes``: DescribeTargetGroups for a load balancer without target groups answers
  an empty list (moto: ``TargetGroupNotFound``).
"""

from __future__ import annotations

from typing import Any

from moto.elbv2.models import FakeAction

from lbc_lab.elb_rules import StackRules

_TYPED_CONDITIONS = {"path-pattern": "PathPatternConfig", "host-header": "HostHeaderConfig"}


class ShapeFidelity:
    """Fills in ELBv2's response shape on what moto stores (mixed in before moto's backend)."""

    lab: Any
    load_balancers: dict[str, Any]

    def _shapes_on(self) -> bool:
        rules: StackRules = self.lab.settings.stacks
        return rules.rule_shapes

    def create_listener(self, *args: Any, **kwargs: Any) -> Any:
        listener = super().create_listener(*args, **kwargs)  # type: ignore[misc]
        if self._shapes_on():
            _shape_actions(listener.default_actions)
        return listener

    def modify_listener(self, *args: Any, **kwargs: Any) -> Any:
        listener = super().modify_listener(*args, **kwargs)  # type: ignore[misc]
        if self._shapes_on():
            _shape_actions(listener.default_actions)
        return listener

    def create_rule(self, *args: Any, **kwargs: Any) -> Any:
        rule = super().create_rule(*args, **kwargs)  # type: ignore[misc]
        if self._shapes_on():
            _shape_actions(rule.actions)
            rule.conditions = [_shape_condition(c) for c in rule.conditions or []]
        return rule

    def modify_rule(self, *args: Any, **kwargs: Any) -> Any:
        rule = super().modify_rule(*args, **kwargs)  # type: ignore[misc]
        if self._shapes_on():
            _shape_actions(rule.actions)
            rule.conditions = [_shape_condition(c) for c in rule.conditions or []]
        return rule

    def describe_target_groups(
        self,
        load_balancer_arn: str | None,
        target_group_arns: list[str],
        names: list[str] | None,
    ) -> Any:
        rules: StackRules = self.lab.settings.stacks
        if (
            rules.empty_describes
            and load_balancer_arn
            and load_balancer_arn in self.load_balancers
            and not target_group_arns
            and not names
        ):
            groups = self.target_groups.values()  # type: ignore[attr-defined]
            users = [g for g in groups if load_balancer_arn in g.load_balancer_arns]
            return sorted(users, key=lambda g: g.name)
        return super().describe_target_groups(  # type: ignore[misc]
            load_balancer_arn, target_group_arns, names
        )


def _shape_actions(actions: list[FakeAction]) -> None:
    for position, action in enumerate(actions, start=1):
        data = action.data
        data.setdefault("Order", position)
        if data.get("Type") == "forward":
            config = data.get("ForwardConfig")
            if config is None and data.get("TargetGroupArn"):
                data["ForwardConfig"] = {
                    "TargetGroups": [{"TargetGroupArn": data["TargetGroupArn"], "Weight": 1}],
                    "TargetGroupStickinessConfig": {"Enabled": False},
                }
            elif config is not None:
                groups = config.get("TargetGroups") or []
                if len(groups) == 1 and not data.get("TargetGroupArn"):
                    data["TargetGroupArn"] = groups[0]["TargetGroupArn"]
        action.__dict__.update(data)


def _shape_condition(condition: dict[str, Any]) -> dict[str, Any]:
    typed = _TYPED_CONDITIONS.get(str(condition.get("Field")))
    if typed is None:
        return condition
    out = dict(condition)
    if typed in out and "Values" not in out:
        out["Values"] = list(out[typed].get("Values") or [])
    elif "Values" in out and typed not in out:
        out[typed] = {"Values": list(out["Values"])}
    return out
