"""Raw Kubernetes JSON → the builders' input views (``core.stack.inputs``).

The API server has validated these objects against their schemas, so the projection is lenient
about shapes it cannot meet in practice (a wrong type becomes the field's empty value) and
strict about what changes a build: every IngressClassParams field outside lbc's allow-list is
reported in ``unsupported`` so the builder stays hands-off.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lbc.core.binding import InvalidBindingError, parse_selector
from lbc.core.stack.annotations import DEFAULT_CLASS_ANNOTATION, PARAMS_FIELDS
from lbc.core.stack.failures import BuildFailure
from lbc.core.stack.inputs import (
    IngressBackendView,
    IngressClassParamsView,
    IngressClassView,
    IngressPathView,
    IngressRuleView,
    IngressView,
    NamespaceView,
    ParamsRefView,
    ServicePortView,
    ServiceView,
    SubnetSelectorView,
)
from lbc.core.stack.model import Tags, tags_of

_SUBNET_FIELDS = frozenset({"ids", "tags"})
_GROUP_FIELDS = frozenset({"name"})


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in _items(value) if isinstance(v, str))


def _string_map(value: Any) -> Tags:
    return tags_of({k: v for k, v in _obj(value).items() if isinstance(v, str)})


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return _obj(obj.get("metadata"))


def _port(value: Any) -> int | str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | str):
        return value
    return None


def _backend(raw: Any) -> IngressBackendView:
    raw = _obj(raw)
    service = raw.get("service")
    if not isinstance(service, Mapping):
        return IngressBackendView("", None, resource=raw.get("resource") is not None)
    port = _obj(service.get("port"))
    name = _text(port.get("name"))
    number = port.get("number")
    value: int | str | None = name or (
        number if isinstance(number, int) and not isinstance(number, bool) else None
    )
    return IngressBackendView(_text(service.get("name")), value)


def _object_meta(meta: Mapping[str, Any]) -> dict[str, Any]:
    """What the Ingress and Service views read of ``metadata`` (the objects stacks are for)."""
    return {
        "namespace": _text(meta.get("namespace")),
        "name": _text(meta.get("name")),
        "uid": _text(meta.get("uid")),
        "annotations": _string_map(meta.get("annotations")),
        "finalizers": _strings(meta.get("finalizers")),
        "deleting": bool(meta.get("deletionTimestamp")),
    }


def ingress_view(obj: Mapping[str, Any]) -> IngressView:
    """An ``networking.k8s.io/v1`` Ingress."""
    meta, spec = _meta(obj), _obj(obj.get("spec"))
    rules = []
    for raw_rule in _items(spec.get("rules")):
        rule = _obj(raw_rule)
        http = _obj(rule.get("http"))
        paths = tuple(
            IngressPathView(
                path=_text(_obj(p).get("path")),
                path_type=_text(_obj(p).get("pathType")),
                backend=_backend(_obj(p).get("backend")),
            )
            for p in _items(http.get("paths"))
        )
        rules.append(IngressRuleView(_text(rule.get("host")), paths))
    class_name = spec.get("ingressClassName")
    default = spec.get("defaultBackend")
    return IngressView(
        **_object_meta(meta),
        class_name=class_name if isinstance(class_name, str) else None,
        default_backend=_backend(default) if isinstance(default, Mapping) else None,
        rules=tuple(rules),
    )


def ingress_class_view(obj: Mapping[str, Any]) -> IngressClassView:
    meta, spec = _meta(obj), _obj(obj.get("spec"))
    ref = spec.get("parameters")
    params = None
    if isinstance(ref, Mapping):
        params = ParamsRefView(
            api_group=_text(ref.get("apiGroup")),
            kind=_text(ref.get("kind")),
            name=_text(ref.get("name")),
            scope=_text(ref.get("scope")),
            namespace=_text(ref.get("namespace")),
        )
    annotations = dict(_string_map(meta.get("annotations")))
    return IngressClassView(
        name=_text(meta.get("name")),
        controller=_text(spec.get("controller")),
        parameters=params,
        is_default=annotations.get(DEFAULT_CLASS_ANNOTATION) == "true",
    )


def _is_set(value: Any) -> bool:
    return value is not None and value not in ("", [], {})


def ingress_class_params_view(obj: Mapping[str, Any]) -> IngressClassParamsView:
    """An IngressClassParams; fields lbc does not implement are listed in ``unsupported``."""
    meta, spec = _meta(obj), _obj(obj.get("spec"))
    name = _text(meta.get("name"))
    unsupported = [k for k, v in spec.items() if k not in PARAMS_FIELDS and _is_set(v)]
    group = _obj(spec.get("group"))
    unsupported += [f"group.{k}" for k, v in group.items() if k not in _GROUP_FIELDS and _is_set(v)]
    subnets = None
    raw_subnets = spec.get("subnets")
    if isinstance(raw_subnets, Mapping):
        unsupported += [
            f"subnets.{k}" for k, v in raw_subnets.items() if k not in _SUBNET_FIELDS and _is_set(v)
        ]
        subnets = SubnetSelectorView(
            ids=_strings(raw_subnets.get("ids")),
            tags=tuple(sorted((k, _strings(v)) for k, v in _obj(raw_subnets.get("tags")).items())),
        )
    selector = None
    raw_selector = spec.get("namespaceSelector")
    if isinstance(raw_selector, Mapping):
        try:
            selector = parse_selector(raw_selector, "spec.namespaceSelector")
        except InvalidBindingError as err:
            raise BuildFailure(f"IngressClassParams {name}: {err}") from err
    tags = {
        _text(_obj(t).get("key")): _text(_obj(t).get("value")) for t in _items(spec.get("tags"))
    }
    return IngressClassParamsView(
        name=name,
        scheme=_text(spec.get("scheme")),
        group_name=_text(group.get("name")),
        tags=tags_of(tags),
        load_balancer_name=_text(spec.get("loadBalancerName")),
        target_type=_text(spec.get("targetType")),
        ip_address_type=_text(spec.get("ipAddressType")),
        subnets=subnets,
        inbound_cidrs=_strings(spec.get("inboundCIDRs")),
        namespace_selector=selector,
        unsupported=tuple(sorted(unsupported)),
        group_set=isinstance(spec.get("group"), Mapping),
    )


def namespace_view(obj: Mapping[str, Any]) -> NamespaceView:
    meta = _meta(obj)
    return NamespaceView(_text(meta.get("name")), _string_map(meta.get("labels")))


def service_view(obj: Mapping[str, Any]) -> ServiceView:
    """A core/v1 Service (ports, type, class, traffic policy, annotations)."""
    meta, spec = _meta(obj), _obj(obj.get("spec"))
    ports = []
    for item in _items(spec.get("ports")):
        raw = _obj(item)
        port = raw.get("port")
        port = port if isinstance(port, int) and not isinstance(port, bool) else 0
        target = _port(raw.get("targetPort"))
        node_port = raw.get("nodePort")
        ports.append(
            ServicePortView(
                name=_text(raw.get("name")),
                protocol=_text(raw.get("protocol")) or "TCP",
                port=port,
                target_port=port if target is None or target == "" else target,
                node_port=node_port if isinstance(node_port, int) else 0,
            )
        )
    hc_port = spec.get("healthCheckNodePort")
    allocate = spec.get("allocateLoadBalancerNodePorts")
    return ServiceView(
        **_object_meta(meta),
        type=_text(spec.get("type")) or "ClusterIP",
        ports=tuple(ports),
        load_balancer_class=_text(spec.get("loadBalancerClass")),
        external_traffic_policy=_text(spec.get("externalTrafficPolicy")),
        health_check_node_port=hc_port if isinstance(hc_port, int) else 0,
        source_ranges=_strings(spec.get("loadBalancerSourceRanges")),
        ip_families=_strings(spec.get("ipFamilies")),
        allocate_node_ports=allocate if isinstance(allocate, bool) else None,
    )
