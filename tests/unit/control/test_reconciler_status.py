"""What the binding's status says after the operator acts on it (runbook fixes, spec edits).

The binding controller runs on memory I/O in virtual time (``tests.unit.control.memcluster``).
"""

from __future__ import annotations

from lbc.kube.client import CONFIG_MAPS, TARGET_GROUP_BINDINGS

from tests.unit.control.memcluster import NS, MemoryKube, binding_object, controller, workload


def _converged(kube: MemoryKube) -> None:
    workload(kube)
    kube.put(TARGET_GROUP_BINDINGS, binding_object())


async def test_turning_multicluster_back_on_clears_the_refusal_at_once() -> None:
    async with controller(prepare=_converged) as c:
        await c.run_for(5.0)
        assert (c.ready() or {}).get("reason") == "TargetsSynced"
        assert c.kube.object(CONFIG_MAPS, "aws-lbc-targets-web", NS)

        c.edit_spec(multiClusterTargetGroup=False)
        await c.run_for(2.0)
        refused = c.ready()
        assert refused is not None
        assert (refused["status"], refused["reason"]) == ("False", "MultiClusterDisableRefused")

        c.edit_spec(multiClusterTargetGroup=True)  # the runbook's other way out
        await c.run_for(2.0)  # far less than a drift period
        ready = c.ready()
        status = c.binding()["status"]
        generation = c.binding()["metadata"]["generation"]
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("True", "TargetsSynced")
    assert status["observedGeneration"] == generation
    assert ready["observedGeneration"] == generation
