"""Shared-stack retention: a stack is not deleted while other clusters send traffic through it.

Deleting the last object of a stack (an Ingress group's last member, a Service) would delete its
target groups, and with them every other cluster's MultiCluster binding on them (LBC does so).
lbc first looks at each target group the stack holds: targets that no ledger of this cluster's
bindings accounts for are another cluster's (or someone's by hand). If any group has such
targets, lbc deletes this cluster's bindings only (the binding controller deregisters exactly
this cluster's targets), waits until they are gone, and leaves every AWS resource in place,
still tagged, so re-creating the object adopts them again. A group bound only by a binding that
is not MultiCluster and has no ledger belongs to this cluster alone and never retains a stack
(a binding whose MultiCluster flag was turned off but whose ledger remains, refused by the
binding controller as ``MultiClusterDisableRefused``, is still MultiCluster here).
"""

from __future__ import annotations

from typing import Final

from lbc.control.stack_bindings import StackBindings
from lbc.control.stackdeploy import StackDeployer
from lbc.core.errors import NotFoundError
from lbc.core.ledger import configmap_name, decode
from lbc.core.stack.model import Stack
from lbc.core.stack.observed import ObservedStack
from lbc.kube.client import CONFIG_MAPS, KubeClient
from lbc.observe.log import get_logger

_log = get_logger("lbc.stacks")

RETAINED: Final = "SharedStackRetained"


async def _ledger(kube: KubeClient, namespace: str, binding: str) -> set[tuple[str, int]] | None:
    """The binding's ledger entries; None when it has no ledger."""
    try:
        found = await kube.get(CONFIG_MAPS, configmap_name(binding), namespace)
    except NotFoundError:
        return None
    text = str((found.get("data") or {}).get("targets", ""))
    return {(t.id, t.port) for t in decode(text)}


async def retain_if_shared(
    kube: KubeClient,
    deployer: StackDeployer,
    bindings: StackBindings,
    stack: Stack,
    observed: ObservedStack,
) -> str | None:
    """The Warning message when the stack is retained (its bindings then deleted), else None.

    A corrupt ledger raises (``LedgerCorrupt``): nothing is decided on a ledger lbc cannot read.
    """
    ours_bindings = bindings.of(stack)
    shared: list[str] = []
    for tg in observed.target_groups:
        registered = await deployer.inventory.target_ids(tg.arn)
        if not registered:
            continue
        mine = [b for b in ours_bindings if b.target_group_arn == tg.arn]
        ledgers = [await _ledger(kube, b.namespace, b.name) for b in mine]
        multi = any(b.spec.get("multiClusterTargetGroup") is True for b in mine)
        if mine and not multi and all(held is None for held in ledgers):
            # Bound without MultiCluster and without a ledger: this cluster owns the group alone.
            # (A ledger left by a refused MultiCluster flip still counts as MultiCluster.)
            continue
        ours: set[tuple[str, int]] = set().union(*(held for held in ledgers if held is not None))
        if registered - ours:
            shared.append(tg.arn)
    if not shared:
        return None
    await bindings.delete_and_wait(ours_bindings)
    arns = [lb.arn for lb in observed.load_balancers] + shared
    _log.warning("shared_stack_retained", stack_id=stack.id.value, arns=arns)
    return (
        "the target groups still hold other clusters' targets; this cluster's targets and "
        f"bindings were removed and the stack is retained: {', '.join(arns)} (annotate "
        'lbc.k8s.aws/delete-shared-stack: "true" to delete it anyway)'
    )
