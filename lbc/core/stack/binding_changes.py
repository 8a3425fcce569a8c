"""The stack's TargetGroupBindings: their objects as LBC's deployer writes them, and the changes.

Generated bindings are plain Kubernetes objects the binding controller reconciles (targets have
one path only). The stack deployer writes them exactly as LBC's does (reference §9.2 item 1),
so the objects are byte-identical whichever controller wrote them:

- paired with what exists by ``spec.targetGroupARN``, among the bindings carrying the stack
  labels (never by name, never outside those labels: a hand-written binding is never touched);
- create: labels = the stack labels, no annotations, no ownerReferences;
- update, only when something differs: the whole spec, labels exactly the stack labels,
  annotations none except the binding controller's two checkpoint keys, which are ignored in
  the comparison but dropped by the update (one full binding pass follows, as with LBC);
- a binding whose target group is no longer wanted is deleted, and the deployer waits until it
  is gone before deleting the group;
- a stale binding holding the *name* of a binding to create (its group was re-created with a new
  ARN, LBC #3493) is deleted and awaited first, then the new one is created.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lbc.core.checkpoint import CHECKPOINT_ANNOTATION, CHECKPOINT_TIMESTAMP_ANNOTATION
from lbc.core.stack.model import SecurityGroupRefKind, TargetGroupBinding

BINDING_KIND = "TargetGroupBinding"
_TOLERATED_ANNOTATIONS = frozenset({CHECKPOINT_ANNOTATION, CHECKPOINT_TIMESTAMP_ANNOTATION})


@dataclass(frozen=True, slots=True)
class ObservedBinding:
    """A TargetGroupBinding carrying the stack labels, as the informer holds it."""

    namespace: str
    name: str
    target_group_arn: str
    spec: Mapping[str, Any]
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    uid: str = ""
    refused: str = ""
    """The message of a ``Ready=False`` condition with reason ``MultiClusterDisableRefused``:
    the binding controller keeps the binding MultiCluster although the stack turned it off."""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def binding_spec(
    binding: TargetGroupBinding, arn: str, frontend_group: str, backend_group: str
) -> dict[str, Any]:
    """``spec`` of a generated binding, with its group ARN and peer group ids resolved."""
    spec: dict[str, Any] = {
        "targetGroupARN": arn,
        "targetType": binding.target_type.value,
        "serviceRef": {"name": binding.service_name, "port": binding.service_port},
        "ipAddressType": binding.ip_address_type.value,
        "vpcID": binding.vpc_id,
        "targetGroupProtocol": binding.target_group_protocol.value,
    }
    if binding.multi_cluster:
        spec["multiClusterTargetGroup"] = True
    if binding.node_selector:
        spec["nodeSelector"] = {"matchLabels": dict(binding.node_selector)}
    if binding.networking is not None:
        rules = []
        for rule in binding.networking:
            peers: list[dict[str, Any]] = []
            for peer in rule.peers:
                if peer.security_group is not None:
                    ref = peer.security_group
                    group = {
                        SecurityGroupRefKind.FRONTEND: frontend_group,
                        SecurityGroupRefKind.BACKEND: backend_group,
                    }.get(ref.kind, ref.group_id)
                    peers.append({"securityGroup": {"groupID": group}})
                else:
                    peers.append({"ipBlock": {"cidr": peer.cidr}})
            ports = [
                {"protocol": p.protocol, **({"port": p.port} if p.port is not None else {})}
                for p in rule.ports
            ]
            rules.append({"from": peers, "ports": ports})
        spec["networking"] = {"ingress": rules}
    return spec


def binding_object(binding: TargetGroupBinding, spec: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": BINDING_KIND,
        "metadata": {
            "name": binding.name,
            "namespace": binding.namespace,
            "labels": dict(binding.labels),
        },
        "spec": dict(spec),
    }


@dataclass(frozen=True, slots=True)
class BindingWrite:
    """One binding to create (``existing is None``) or update (merge patch of ``patch``)."""

    desired: TargetGroupBinding
    spec: Mapping[str, Any]
    existing: ObservedBinding | None = None

    def patch(self) -> dict[str, Any]:
        """Merge patch replacing spec, labels and annotations as LBC's Update does."""
        if self.existing is None:
            raise ValueError("a create has no patch")
        labels: dict[str, Any] = dict.fromkeys(self.existing.labels)
        labels.update(dict(self.desired.labels))
        annotations: dict[str, Any] = dict.fromkeys(self.existing.annotations)
        spec: dict[str, Any] = dict.fromkeys(self.existing.spec)
        spec.update(self.spec)
        return {"metadata": {"labels": labels, "annotations": annotations}, "spec": spec}


@dataclass(frozen=True, slots=True)
class BindingChanges:
    """``stale`` deleted and awaited first, then ``writes``; ``unwanted`` in the post phase."""

    stale: tuple[ObservedBinding, ...]
    writes: tuple[BindingWrite, ...]
    unwanted: tuple[ObservedBinding, ...]


def _differs(
    existing: ObservedBinding, desired: TargetGroupBinding, spec: Mapping[str, Any]
) -> bool:
    if dict(existing.spec) != dict(spec):
        return True
    if dict(existing.labels) != dict(desired.labels):
        return True
    return bool(set(existing.annotations) - _TOLERATED_ANNOTATIONS)


def plan_bindings(
    desired: Sequence[tuple[TargetGroupBinding, Mapping[str, Any]]],
    observed: Sequence[ObservedBinding],
) -> BindingChanges:
    """Pair ``desired`` (binding, resolved spec) with ``observed`` by target-group ARN."""
    by_arn: dict[str, ObservedBinding] = {}
    for seen in sorted(observed, key=lambda b: b.key):
        by_arn.setdefault(seen.target_group_arn, seen)
    paired: set[str] = set()
    writes: list[BindingWrite] = []
    for binding, spec in desired:
        found = by_arn.get(str(spec["targetGroupARN"]))
        if found is not None and found.namespace == binding.namespace:
            paired.add(found.key)
            if _differs(found, binding, spec):
                writes.append(BindingWrite(binding, spec, found))
        else:
            writes.append(BindingWrite(binding, spec))
    leftovers = [b for b in observed if b.key not in paired]
    creating = {f"{w.desired.namespace}/{w.desired.name}" for w in writes if w.existing is None}
    stale = tuple(b for b in leftovers if b.key in creating)
    unwanted = tuple(b for b in leftovers if b.key not in creating)
    return BindingChanges(stale=stale, writes=tuple(writes), unwanted=unwanted)
