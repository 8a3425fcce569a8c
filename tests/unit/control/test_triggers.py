"""Which binding keys an object change wakes (lbc.control.triggers), with real stores."""

from __future__ import annotations

from typing import Any

from lbc.control.entry import BindingEntry, binding_entry
from lbc.control.triggers import BINDING_INDEXERS, Triggers, node_change_matters
from lbc.core.objects import EndpointSliceView, Taint
from lbc.kube.informer import Store

from tests.unit.core.factories import NS, binding, binding_obj, gated_pod, node, pod


class Harness:
    def __init__(self, *objs: dict[str, Any]) -> None:
        self.store: Store[BindingEntry] = Store(BINDING_INDEXERS)
        for obj in objs:
            entry = binding_entry(obj)
            self.store.put(entry.key, entry)
        self.woken: list[str] = []
        self.low: list[str] = []  # woken at low priority (the informers' start-up lists)
        self.changed: list[str] = []  # reported as input changes (rollout pacing)
        self.initial = False
        self.own_checkpoints: dict[str, str] = {}
        self.own_ledgers: dict[str, str] = {}
        self.triggers = Triggers(
            self.woken.append,
            self.store.by_index,
            own_checkpoint=self.own_checkpoints.get,
            own_ledger_version=lambda ns, name: self.own_ledgers.get(f"{ns}/{name}"),
            enqueue_low=self.low.append,
            initial=lambda: self.initial,
            changed=self.changed.append,
        )


def _slice(service: str, name: str = "s-1") -> EndpointSliceView:
    return EndpointSliceView(NS, name, service, "IPv4", (), ())


def test_slice_change_wakes_only_ip_bindings_of_its_service() -> None:
    h = Harness(
        binding_obj("ip-web"),
        binding_obj("inst-web", target_type="instance"),
        binding_obj("ip-other", serviceRef={"name": "other", "port": 80}),
    )
    h.triggers.slice_handlers().on_add("k", _slice("web"))
    assert h.woken == [f"{NS}/ip-web"]


def test_service_change_wakes_every_binding_of_that_service() -> None:
    h = Harness(binding_obj("ip-web"), binding_obj("inst-web", target_type="instance"))
    h.triggers.service_handlers().on_update(f"{NS}/web", object(), object())
    assert sorted(h.woken) == [f"{NS}/inst-web", f"{NS}/ip-web"]


def test_pod_wakes_the_bindings_its_readiness_gates_name() -> None:
    h = Harness()
    h.triggers.pod_handlers().on_update("k", pod("p", "10.0.0.1"), gated_pod("p", "10.0.0.1"))
    h.triggers.pod_handlers().on_add("k", pod("q", "10.0.0.2"))
    assert h.woken == [f"{NS}/web"]


def test_own_checkpoint_write_does_not_wake_but_someone_elses_does() -> None:
    h = Harness()
    old = binding_entry(binding_obj(checkpoint="a/b"))
    mine = binding_entry(binding_obj(checkpoint="c/d"))
    h.own_checkpoints[old.key] = "c/d"
    handlers = h.triggers.binding_handlers()
    handlers.on_update(old.key, old, mine)
    assert h.woken == []
    reset_by_someone = binding_entry(binding_obj(checkpoint=""))
    handlers.on_update(old.key, mine, reset_by_someone)
    assert h.woken == [old.key]


def test_status_only_update_does_not_wake_but_a_spec_change_does() -> None:
    h = Harness()
    base = binding_obj()
    with_status = {**base, "status": {"observedGeneration": 1}}
    with_status["metadata"] = {**base["metadata"], "resourceVersion": "99"}
    handlers = h.triggers.binding_handlers()
    handlers.on_update("k", binding_entry(base), binding_entry(with_status))
    assert h.woken == []
    changed = binding_obj(port=8080)
    handlers.on_update("k", binding_entry(base), binding_entry(changed))
    assert h.woken == ["k"]


def test_ledger_written_by_this_process_does_not_wake_but_an_edit_does() -> None:
    h = Harness()
    h.own_ledgers[f"{NS}/aws-lbc-targets-web"] = "12"
    handlers = h.triggers.ledger_handlers()
    handlers.on_update(f"{NS}/aws-lbc-targets-web", "11", "12")
    handlers.on_update(f"{NS}/some-config", None, None)
    assert h.woken == []
    handlers.on_update(f"{NS}/aws-lbc-targets-web", "12", "13")
    handlers.on_delete(f"{NS}/aws-lbc-targets-web", "13")
    assert h.woken == [f"{NS}/web", f"{NS}/web"]


def test_node_rule_wakes_on_readiness_or_suitability_change_only() -> None:
    b = binding(target_type="instance")
    ready = node("n1", "i-1")
    assert not node_change_matters(b, ready, ready)
    assert node_change_matters(b, ready, node("n1", "i-1", ready="False"))
    assert node_change_matters(b, None, ready)
    assert node_change_matters(b, ready, None)
    assert not node_change_matters(b, None, node("n2", "i-2", ready="False"))
    doomed = node("n1", "i-1", taints=(Taint("ToBeDeletedByClusterAutoscaler", "NoSchedule"),))
    assert node_change_matters(b, ready, doomed)
    master = node("m", "i-9", labels={"node-role.kubernetes.io/master": ""})
    assert not node_change_matters(b, None, master)


def test_node_change_wakes_only_instance_bindings() -> None:
    h = Harness(binding_obj("ip-web"), binding_obj("inst-web", target_type="instance"))
    h.triggers.node_handlers().on_add("n1", node("n1", "i-1"))
    assert h.woken == [f"{NS}/inst-web"]


def test_malformed_binding_is_cached_with_its_error_and_still_wakes() -> None:
    obj = binding_obj(targetType="lambda")
    entry = binding_entry(obj)
    assert entry.binding is None
    assert entry.error is not None
    assert "targetType" in entry.error
    h = Harness()
    h.triggers.binding_handlers().on_add(entry.key, entry)
    assert h.woken == [entry.key]


def test_initial_list_adds_are_low_priority_and_live_changes_normal() -> None:
    h = Harness()
    h.initial = True
    entry = binding_entry(binding_obj())
    h.triggers.binding_handlers().on_add(entry.key, entry)
    h.initial = False
    h.triggers.binding_handlers().on_add(entry.key, entry)
    assert (h.low, h.woken) == ([entry.key], [entry.key])


def test_only_live_input_changes_are_reported_as_changes() -> None:
    h = Harness(binding_obj("ip-web"), binding_obj("inst-web", target_type="instance"))
    h.initial = True
    h.triggers.slice_handlers().on_add("k", _slice("web"))  # the start-up list: no rollout
    assert (h.changed, h.low) == ([], [f"{NS}/ip-web"])
    h.initial = False
    h.triggers.slice_handlers().on_update("k", _slice("web"), _slice("web"))
    h.triggers.node_handlers().on_add("n", node("n1"))
    h.triggers.service_handlers().on_update(f"{NS}/web", object(), object())
    assert h.changed[:2] == [f"{NS}/ip-web", f"{NS}/inst-web"]  # the slice's, the node's
    assert sorted(h.changed[2:]) == [f"{NS}/inst-web", f"{NS}/ip-web"]  # the Service's
    entry = h.store.get(f"{NS}/ip-web")
    assert entry is not None
    h.triggers.binding_handlers().on_add(entry.key, entry)  # the binding itself: no input change
    h.triggers.pod_handlers().on_add("k", gated_pod("p", "10.0.0.1"))
    assert len(h.changed) == 4
    assert len(h.woken) == 6
