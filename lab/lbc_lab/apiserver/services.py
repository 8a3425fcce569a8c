"""Services as kube-apiserver admits them: defaults, allocated IPs and node ports, class rules.

Load-balancer controllers read what the server allocated (the NLB path registers instance
targets on ``nodePort`` and health-checks ``healthCheckNodePort``), so the lab allocates them as
the real registry does:

- defaults: ``type`` ClusterIP; per port ``protocol`` TCP and ``targetPort`` = ``port``; for
  NodePort and LoadBalancer ``externalTrafficPolicy`` Cluster; for LoadBalancer
  ``allocateLoadBalancerNodePorts`` true; a new Service reads back with ``status.loadBalancer``
  ``{}``;
- ``clusterIP``/``clusterIPs`` from the service range 10.100.0.0/16 (EKS's default), unless
  ``None`` (headless) or given (then it must be in range and free);
- ``nodePort`` for each port of a NodePort Service, or a LoadBalancer one that allocates node
  ports, from 30000-32767 unless given (then in range, free, not repeated);
  ``healthCheckNodePort`` for a LoadBalancer Service with ``externalTrafficPolicy: Local``;
- updates keep what was allocated when the new object leaves it out (``patchAllocatedValues``),
  a type change away from NodePort/LoadBalancer releases node ports, the health-check port and
  the class the user did not set again (``dropTypeDependentFields``), and ``clusterIP`` may not
  change;
- ``loadBalancerClass``: a qualified name, only on LoadBalancer Services, and immutable while
  the Service stays a LoadBalancer ("may not change once set").

Refusals are 422s with the real field paths and wording. Allocation is deterministic (the lowest
free value), where the real allocator picks at random; nothing may rely on either.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

import orjson

from lbc_lab.apiserver.names import check_qualified_key
from lbc_lab.apiserver.status import CauseList

Obj = dict[str, Any]

SERVICES = "services"
SERVICE_RANGE = ipaddress.ip_network("10.100.0.0/16")
NODE_PORTS = range(30000, 32768)
_NODE_PORT_TYPES = ("NodePort", "LoadBalancer")
_FIRST_IP = 10  # the first addresses of the range are kept for the cluster's own Services


def _spec(obj: Obj) -> Obj:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _needs_node_ports(spec: Obj) -> bool:
    kind = spec.get("type")
    if kind == "NodePort":
        return True
    return kind == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts", True) is not False


def _needs_health_port(spec: Obj) -> bool:
    return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


def _ports(spec: Obj) -> list[Obj]:
    return [p for p in spec.get("ports") or [] if isinstance(p, dict)]


def admit(obj: Obj, old: Obj | None, others: Iterator[Obj]) -> None:
    """Default, keep or release allocated values, validate, allocate; 422 on any refusal."""
    # A private copy: on a status write the spec is the stored object's own dict.
    spec = obj["spec"] = orjson.loads(orjson.dumps(_spec(obj)))
    old_spec = _spec(old) if old is not None else None
    _default(obj, spec, old is None)
    if old_spec is not None:
        _keep_allocated(spec, old_spec)
        _drop_type_dependent(spec, old_spec)
    causes = CauseList()
    _validate(spec, old_spec, causes)
    causes.raise_if_any("Service", "", obj["metadata"]["name"])
    me = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
    _allocate(spec, old_spec, _Allocated(others, me), causes)
    causes.raise_if_any("Service", "", obj["metadata"]["name"])


class _Allocated:
    """What the other Services hold, gathered on first use only: a Service that allocates and
    checks nothing (headless, no node ports, or keeping its IP) never scans the others, so
    loading thousands of them stays linear."""

    def __init__(self, others: Iterator[Obj], me: tuple[str, str]) -> None:
        self._others: Iterator[Obj] | None = others
        self._me = me
        self._ips: set[str] = set()
        self._ports: set[int] = set()

    def _gather(self) -> None:
        if self._others is None:
            return
        for other in self._others:
            meta = other["metadata"]
            if (meta.get("namespace", ""), meta["name"]) == self._me:
                continue
            other_spec = other.get("spec") or {}
            self._ips.update(other_spec.get("clusterIPs") or [other_spec.get("clusterIP") or ""])
            self._ports.update(int(p.get("nodePort") or 0) for p in _ports(other_spec))
            self._ports.add(int(other_spec.get("healthCheckNodePort") or 0))
        self._others = None

    @property
    def ips(self) -> set[str]:
        self._gather()
        return self._ips

    @property
    def ports(self) -> set[int]:
        self._gather()
        return self._ports


def _default(obj: Obj, spec: Obj, creating: bool) -> None:
    spec.setdefault("type", "ClusterIP")
    for port in _ports(spec):
        port.setdefault("protocol", "TCP")
        if not port.get("targetPort") and port.get("port"):
            port["targetPort"] = port["port"]
    if spec["type"] in _NODE_PORT_TYPES:
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    if creating:
        obj.setdefault("status", {"loadBalancer": {}})


def _port_key(port: Obj) -> tuple[Any, Any]:
    return (port.get("port"), port.get("protocol", "TCP"))


def _keep_allocated(spec: Obj, old: Obj) -> None:
    """patchAllocatedValues: what the new object leaves out, the old allocation keeps."""
    if not spec.get("clusterIP") and old.get("clusterIP"):
        spec["clusterIP"] = old["clusterIP"]
        if old.get("clusterIPs"):
            spec["clusterIPs"] = list(old["clusterIPs"])
    if _needs_node_ports(spec) and _needs_node_ports(old):
        before = {_port_key(p): p.get("nodePort") for p in _ports(old)}
        for port in _ports(spec):
            if not port.get("nodePort") and before.get(_port_key(port)):
                port["nodePort"] = before[_port_key(port)]
    if (
        _needs_health_port(spec)
        and _needs_health_port(old)
        and not spec.get("healthCheckNodePort")
        and old.get("healthCheckNodePort")
    ):
        spec["healthCheckNodePort"] = old["healthCheckNodePort"]


def _drop_type_dependent(spec: Obj, old: Obj) -> None:
    """dropTypeDependentFields: a type change releases what the user did not set again."""
    if _needs_node_ports(old) and not _needs_node_ports(spec):
        before = {_port_key(p): p.get("nodePort") for p in _ports(old)}
        for port in _ports(spec):
            if port.get("nodePort") and port["nodePort"] == before.get(_port_key(port)):
                del port["nodePort"]
    if (
        _needs_health_port(old)
        and not _needs_health_port(spec)
        and spec.get("healthCheckNodePort") == old.get("healthCheckNodePort")
    ):
        spec.pop("healthCheckNodePort", None)
    if old.get("type") == "LoadBalancer" and spec.get("type") != "LoadBalancer":
        if spec.get("loadBalancerClass") == old.get("loadBalancerClass"):
            spec.pop("loadBalancerClass", None)
        if spec.get("allocateLoadBalancerNodePorts") == old.get("allocateLoadBalancerNodePorts"):
            spec.pop("allocateLoadBalancerNodePorts", None)
    if spec.get("type") not in _NODE_PORT_TYPES and spec.get("externalTrafficPolicy") == old.get(
        "externalTrafficPolicy"
    ):
        spec.pop("externalTrafficPolicy", None)


def _validate(spec: Obj, old: Obj | None, causes: CauseList) -> None:
    kind = spec.get("type")
    if kind not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        causes.add(
            "spec.type",
            f'Unsupported value: "{kind}": supported values: "ClusterIP", "ExternalName", '
            '"LoadBalancer", "NodePort"',
            "FieldValueNotSupported",
        )
    seen: dict[int, int] = {}
    for i, port in enumerate(_ports(spec)):
        node_port = int(port.get("nodePort") or 0)
        if not node_port:
            continue
        if kind not in _NODE_PORT_TYPES:
            causes.add(
                f"spec.ports[{i}].nodePort",
                f"Forbidden: may not be used when `type` is '{kind}'",
                "FieldValueForbidden",
            )
        elif node_port in seen and _port_key(_ports(spec)[seen[node_port]])[1] == port.get(
            "protocol", "TCP"
        ):
            causes.add(
                f"spec.ports[{i}].nodePort", f"Duplicate value: {node_port}", "FieldValueDuplicate"
            )
        seen.setdefault(node_port, i)
    if spec.get("healthCheckNodePort") and not _needs_health_port(spec):
        causes.bad_value(
            "spec.healthCheckNodePort",
            spec["healthCheckNodePort"],
            "HealthCheckNodePort can only be set on LoadBalancer service with "
            "ExternalTrafficPolicy=Local",
        )
    klass = spec.get("loadBalancerClass")
    if kind == "LoadBalancer":
        if (
            old is not None
            and old.get("type") == "LoadBalancer"
            and klass != old.get("loadBalancerClass")
        ):
            causes.add(
                "spec.loadBalancerClass",
                f"Invalid value: {_go_pointer(klass)}: may not change once set",
            )
        if klass is not None:
            check_qualified_key(str(klass), causes, "spec.loadBalancerClass")
    elif klass is not None:
        causes.add(
            "spec.loadBalancerClass",
            "Forbidden: may only be used when `type` is 'LoadBalancer'",
            "FieldValueForbidden",
        )
    if old is not None and old.get("clusterIP") and spec.get("clusterIP") != old["clusterIP"]:
        causes.bad_value(
            "spec.clusterIPs[0]", spec.get("clusterIP") or "", "may not change once set"
        )


def _go_pointer(value: Any) -> str:
    return "null" if value is None else f'"{value}"'


def _allocate(spec: Obj, old: Obj | None, used: _Allocated, causes: CauseList) -> None:
    if spec.get("type") != "ExternalName":
        wanted = spec.get("clusterIP")
        if wanted and wanted != "None":
            if old is None or old.get("clusterIP") != wanted:
                _check_ip(str(wanted), used.ips, causes)
            spec["clusterIPs"] = [wanted]
        elif not wanted:
            spec["clusterIP"] = _free_ip(used.ips)
            spec["clusterIPs"] = [spec["clusterIP"]]
        else:
            spec["clusterIPs"] = ["None"]
    own = {int(p.get("nodePort") or 0) for p in _ports(old or {})} | {
        int((old or {}).get("healthCheckNodePort") or 0)
    }
    for i, port in enumerate(_ports(spec)):
        given = int(port.get("nodePort") or 0)
        if given:
            _check_port(given, used.ports, own, f"spec.ports[{i}].nodePort", causes)
            used.ports.add(given)
        elif _needs_node_ports(spec):
            port["nodePort"] = _free_port(used.ports)
    if _needs_health_port(spec):
        given = int(spec.get("healthCheckNodePort") or 0)
        if given:
            _check_port(given, used.ports, own, "spec.healthCheckNodePort", causes)
        else:
            spec["healthCheckNodePort"] = _free_port(used.ports)


def _check_ip(wanted: str, used: set[str], causes: CauseList) -> None:
    try:
        address = ipaddress.ip_address(wanted)
    except ValueError:
        causes.bad_value("spec.clusterIPs[0]", wanted, "must be a valid IP address")
        return
    if address not in SERVICE_RANGE:
        causes.bad_value(
            "spec.clusterIPs",
            [wanted],
            f"failed to allocate IP {wanted}: the provided IP ({wanted}) is not in the valid "
            f"range. The range of valid IPs is {SERVICE_RANGE}",
        )
    elif wanted in used:
        causes.bad_value(
            "spec.clusterIPs",
            [wanted],
            f"failed to allocate IP {wanted}: provided IP is already allocated",
        )


def _check_port(port: int, used: set[int], own: set[int], path: str, causes: CauseList) -> None:
    if port not in NODE_PORTS:
        causes.bad_value(
            path,
            port,
            "provided port is not in the valid range. The range of valid ports is 30000-32767",
        )
    elif port in used and port not in own:
        causes.bad_value(path, port, "provided port is already allocated")


def _free_ip(used: set[str]) -> str:
    for offset in range(_FIRST_IP, SERVICE_RANGE.num_addresses - 1):
        candidate = str(SERVICE_RANGE.network_address + offset)
        if candidate not in used:
            used.add(candidate)
            return candidate
    raise RuntimeError("the lab's service range is exhausted")


def _free_port(used: set[int]) -> int:
    for candidate in NODE_PORTS:
        if candidate not in used:
            used.add(candidate)
            return candidate
    raise RuntimeError("the lab's node port range is exhausted")


# -- printed columns ----------------------------------------------------------------------------


def type_cell(obj: Obj) -> str:
    return str((obj.get("spec") or {}).get("type") or "ClusterIP")


def cluster_ip_cell(obj: Obj) -> str:
    spec = obj.get("spec") or {}
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    return ",".join(ips) if ips else "<none>"


def external_ip_cell(obj: Obj) -> str:
    spec = obj.get("spec") or {}
    external = list(spec.get("externalIPs") or [])
    if spec.get("type") == "LoadBalancer":
        entries = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        found = [
            str(e.get("ip") or e.get("hostname"))
            for e in entries
            if e.get("ip") or e.get("hostname")
        ]
        shown = found + external
        return ",".join(shown) if shown else "<pending>"
    if spec.get("type") == "ExternalName":
        return str(spec.get("externalName") or "<none>")
    return ",".join(external) if external else "<none>"


def ports_cell(obj: Obj) -> str:
    parts = []
    for port in _ports(obj.get("spec") or {}):
        node = f":{port['nodePort']}" if port.get("nodePort") else ""
        parts.append(f"{port.get('port')}{node}/{port.get('protocol', 'TCP')}")
    return ",".join(parts) if parts else "<none>"


def selector_cell(obj: Obj) -> str:
    selector = (obj.get("spec") or {}).get("selector") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items())) if selector else "<none>"
