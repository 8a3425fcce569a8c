"""Raw API JSON projects into the builders' views, and unknown IngressClassParams fields show."""

from __future__ import annotations

from lbc.core.stack.inputs import IngressBackendView, SubnetSelectorView
from lbc.core.stack.views import (
    ingress_class_params_view,
    ingress_class_view,
    ingress_view,
    namespace_view,
    service_view,
)


def test_ingress_view_keeps_port_names_hosts_and_path_types() -> None:
    view = ingress_view(
        {
            "metadata": {
                "namespace": "ns",
                "name": "a",
                "annotations": {"alb.ingress.kubernetes.io/scheme": "internal"},
                "finalizers": ["ingress.k8s.aws/resources"],
                "deletionTimestamp": "2026-01-01T00:00:00Z",
            },
            "spec": {
                "defaultBackend": {"service": {"name": "dflt", "port": {"name": "http"}}},
                "rules": [
                    {
                        "host": "example.com",
                        "http": {
                            "paths": [
                                {
                                    "path": "/x",
                                    "pathType": "Prefix",
                                    "backend": {"service": {"name": "web", "port": {"number": 80}}},
                                },
                                {"path": "/r", "pathType": "Exact", "backend": {"resource": {}}},
                            ]
                        },
                    },
                    {"host": "no-http.example.com"},
                ],
            },
        }
    )
    assert view.key == "ns/a"
    assert view.class_name is None
    assert view.deleting
    assert view.finalizers == ("ingress.k8s.aws/resources",)
    assert view.default_backend == IngressBackendView("dflt", "http")
    first, second = view.rules
    assert first.host == "example.com"
    assert [p.backend for p in first.paths] == [
        IngressBackendView("web", 80),
        IngressBackendView("", None, resource=True),
    ]
    assert second.paths == ()


def test_ingress_class_default_annotation_must_be_exactly_true() -> None:
    raw = {
        "metadata": {
            "name": "alb",
            "annotations": {"ingressclass.kubernetes.io/is-default-class": "True"},
        },
        "spec": {
            "controller": "ingress.k8s.aws/alb",
            "parameters": {"apiGroup": "elbv2.k8s.aws", "kind": "IngressClassParams", "name": "p"},
        },
    }
    view = ingress_class_view(raw)
    assert not view.is_default
    assert view.parameters is not None
    assert view.parameters.name == "p"


def test_params_view_lists_fields_lbc_does_not_implement() -> None:
    view = ingress_class_params_view(
        {
            "metadata": {"name": "p"},
            "spec": {
                "scheme": "internal",
                "group": {"name": "g"},
                "tags": [{"key": "team", "value": "web"}],
                "subnets": {"tags": {"tier": ["web"]}},
                "namespaceSelector": {"matchLabels": {"team": "web"}},
                "certificateArn": ["arn:aws:acm:x"],
                "sslPolicy": "",
                "loadBalancerAttributes": [{"key": "a", "value": "b"}],
            },
        }
    )
    assert view.unsupported == ("certificateArn", "loadBalancerAttributes")
    assert view.group_name == "g"
    assert view.tags == (("team", "web"),)
    assert view.subnets == SubnetSelectorView(tags=(("tier", ("web",)),))
    assert view.namespace_selector is not None
    assert view.namespace_selector.matches({"team": "web"})


def test_service_view_defaults_target_port_to_port() -> None:
    view = service_view(
        {
            "metadata": {"namespace": "ns", "name": "web", "uid": "u"},
            "spec": {
                "type": "LoadBalancer",
                "loadBalancerClass": "service.k8s.aws/nlb",
                "externalTrafficPolicy": "Local",
                "healthCheckNodePort": 32001,
                "ports": [
                    {"port": 80, "nodePort": 30080},
                    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": "dns"},
                ],
            },
        }
    )
    assert view.load_balancer_class == "service.k8s.aws/nlb"
    assert view.health_check_node_port == 32001
    web, dns = view.ports
    assert (web.protocol, web.target_port, web.node_port) == ("TCP", 80, 30080)
    assert (dns.protocol, dns.target_port, dns.node_port) == ("UDP", "dns", 0)


def test_namespace_view_labels() -> None:
    view = namespace_view({"metadata": {"name": "ns", "labels": {"b": "2", "a": "1"}}})
    assert view.labels == (("a", "1"), ("b", "2"))
