"""Ingress and IngressClass through kubernetes_asyncio: kube-apiserver's validation and admission.

Controllers for Ingresses read what the real server stores and write status through the status
subresource; these tests hold the lab to the real answers (422 with the Go validators' field
paths, the DefaultIngressClass admission plugin, the immutable controller of a class).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from lbc_lab.apiserver import LabApiServer

DEFAULT_CLASS = "ingressclass.kubernetes.io/is-default-class"


def ingress(name: str, spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": "default", **meta},
        "spec": spec,
    }


def http_rule(*paths: dict[str, Any], host: str | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"http": {"paths": list(paths)}}
    if host is not None:
        rule["host"] = host
    return rule


def path(value: str | None, path_type: str | None, backend: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"backend": backend}
    if value is not None:
        out["path"] = value
    if path_type is not None:
        out["pathType"] = path_type
    return out


def service(svc: str = "echoserver", **port: Any) -> dict[str, Any]:
    return {"service": {"name": svc, "port": port or {"number": 80}}}


def ingress_class(name: str, controller: str = "ingress.k8s.aws/alb", **meta: Any) -> Any:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {"name": name, **meta},
        "spec": {"controller": controller},
    }


async def rejected(call: Any) -> dict[str, str]:
    """The 422 causes of a refused write, field -> message."""
    with pytest.raises(ApiException) as err:
        await call
    assert err.value.status == 422, err.value.body
    import json

    body = json.loads(err.value.body)
    assert body["reason"] == "Invalid"
    return {c["field"]: c["message"] for c in body["details"]["causes"]}


async def test_seed_ingress_round_trips_and_status_is_written_apart(
    kube_api_client: client.ApiClient,
) -> None:
    api = client.NetworkingV1Api(kube_api_client)
    spec = {"ingressClassName": "alb", "rules": [http_rule(path("/", "Exact", service()))]}
    body = ingress("echoserver", spec)
    body["status"] = {"loadBalancer": {"ingress": [{"hostname": "ignored.example.com"}]}}
    created = await api.create_namespaced_ingress("default", body)
    assert created.status.load_balancer.ingress is None, "create resets status"
    assert created.metadata.generation == 1
    hostname = "k8s-echoserv-echoserv-1234567890-123456789.us-east-1.elb.amazonaws.com"
    patched = await api.patch_namespaced_ingress_status(
        "echoserver",
        "default",
        {"status": {"loadBalancer": {"ingress": [{"hostname": hostname, "ports": None}]}}},
    )
    assert patched.status.load_balancer.ingress[0].hostname == hostname
    assert patched.metadata.generation == 1, "a status write is not a spec change"
    again = await api.patch_namespaced_ingress(
        "echoserver", "default", {"status": {"loadBalancer": {"ingress": []}}}
    )
    assert again.status.load_balancer.ingress[0].hostname == hostname, (
        "main resource ignores status"
    )
    rule = again.spec.rules[0].http.paths[0]
    assert (rule.path, rule.path_type, rule.backend.service.port.number) == ("/", "Exact", 80)


async def test_watch_sees_the_status_patch(kube_api_client: client.ApiClient) -> None:
    api = client.NetworkingV1Api(kube_api_client)
    spec = {"rules": [http_rule(path("/", "Prefix", service()))]}
    created = await api.create_namespaced_ingress("default", ingress("web", spec))
    stream = watch.Watch()
    seen: list[tuple[str, Any]] = []

    async def consume() -> None:
        async for event in stream.stream(
            api.list_namespaced_ingress,
            "default",
            resource_version=created.metadata.resource_version,
            timeout_seconds=10,
        ):
            seen.append((event["type"], event["object"]))
            return

    task = asyncio.create_task(consume())
    await api.patch_namespaced_ingress_status(
        "web", "default", {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}}
    )
    async with asyncio.timeout(10):
        await task
    stream.stop()
    ((kind, obj),) = seen
    assert kind == "MODIFIED"
    assert obj.status.load_balancer.ingress[0].ip == "192.0.2.10"


INVALID_SPECS: list[tuple[str, dict[str, Any], dict[str, str]]] = [
    (
        "no-rules-no-default",
        {},
        {"spec": "either `defaultBackend` or `rules` must be specified"},
    ),
    (
        "path-type-missing",
        {"rules": [http_rule(path("/", None, service()))]},
        {"spec.rules[0].http.paths[0].pathType": "Required value: pathType must be specified"},
    ),
    (
        "path-type-unknown",
        {"rules": [http_rule(path("/", "Regex", service()))]},
        {"spec.rules[0].http.paths[0].pathType": 'Unsupported value: "Regex"'},
    ),
    (
        "relative-exact-path",
        {"rules": [http_rule(path("api", "Exact", service()))]},
        {"spec.rules[0].http.paths[0].path": 'Invalid value: "api": must be an absolute path'},
    ),
    (
        "double-slash-prefix",
        {"rules": [http_rule(path("/a//b", "Prefix", service()))]},
        {"spec.rules[0].http.paths[0].path": "must not contain '//'"},
    ),
    (
        "relative-implementation-specific",
        {"rules": [http_rule(path("api", "ImplementationSpecific", service()))]},
        {"spec.rules[0].http.paths[0].path": "must be an absolute path"},
    ),
    (
        "no-paths",
        {"rules": [{"http": {"paths": []}}]},
        {"spec.rules[0].http.paths": "Required value"},
    ),
    (
        "ip-host",
        {"rules": [http_rule(path("/", "Prefix", service()), host="10.0.0.1")]},
        {"spec.rules[0].host": "must be a DNS name, not an IP address"},
    ),
    (
        "bad-wildcard-host",
        {"rules": [http_rule(path("/", "Prefix", service()), host="*.*.example.com")]},
        {"spec.rules[0].host": "a wildcard DNS-1123 subdomain"},
    ),
    (
        "service-name-not-dns1035",
        {"rules": [http_rule(path("/", "Prefix", service("1echo")))]},
        {"spec.rules[0].http.paths[0].backend.service.name": "a DNS-1035 label"},
    ),
    (
        "port-number-out-of-range",
        {"rules": [http_rule(path("/", "Prefix", service(number=0x10000)))]},
        {
            "spec.rules[0].http.paths[0].backend.service.port.number": (
                "must be between 1 and 65535, inclusive"
            )
        },
    ),
    (
        "port-name-and-number",
        {"rules": [http_rule(path("/", "Prefix", service(name="http", number=80)))]},
        {"spec.rules[0].http.paths[0].backend": "cannot set both port name & port number"},
    ),
    (
        "port-name-invalid",
        {"rules": [http_rule(path("/", "Prefix", service(name="http--web")))]},
        {"spec.rules[0].http.paths[0].backend.service.port.name": "consecutive hyphens"},
    ),
    (
        "no-port",
        {"defaultBackend": {"service": {"name": "echoserver", "port": {}}}},
        {"spec.defaultBackend": "Required value: port name or number is required"},
    ),
    (
        "service-and-resource",
        {
            "defaultBackend": {
                **service(),
                "resource": {"apiGroup": "k8s.example.com", "kind": "Bucket", "name": "b"},
            }
        },
        {"spec.defaultBackend": "cannot set both resource and service backends"},
    ),
    (
        "empty-backend",
        {"defaultBackend": {}},
        {"spec.defaultBackend": "resource or service backend is required"},
    ),
    (
        "class-name-not-subdomain",
        {"ingressClassName": "ALB", "defaultBackend": service()},
        {"spec.ingressClassName": "a lowercase RFC 1123 subdomain"},
    ),
]


@pytest.mark.parametrize(
    ("spec", "expected"), [c[1:] for c in INVALID_SPECS], ids=[c[0] for c in INVALID_SPECS]
)
async def test_invalid_ingress_is_refused_naming_the_field(
    kube_api_client: client.ApiClient, spec: dict[str, Any], expected: dict[str, str]
) -> None:
    api = client.NetworkingV1Api(kube_api_client)
    causes = await rejected(api.create_namespaced_ingress("default", ingress("bad", spec)))
    assert set(causes) == set(expected), causes
    for field, fragment in expected.items():
        assert fragment in causes[field], (field, causes[field])


async def test_legacy_class_annotation_must_agree_on_create_only(
    kube_api_client: client.ApiClient,
) -> None:
    api = client.NetworkingV1Api(kube_api_client)
    annotated = {"kubernetes.io/ingress.class": "nginx"}
    spec = {"ingressClassName": "alb", "defaultBackend": service()}
    causes = await rejected(
        api.create_namespaced_ingress("default", ingress("both", spec, annotations=annotated))
    )
    assert causes == {
        "annotations.kubernetes.io/ingress.class": (
            'Invalid value: "nginx": must match `ingressClassName` when both are specified'
        )
    }
    await api.create_namespaced_ingress("default", ingress("later", spec))
    updated = await api.patch_namespaced_ingress(
        "later", "default", {"metadata": {"annotations": annotated}}
    )
    assert updated.metadata.annotations == annotated


async def test_invalid_status_address_is_refused(kube_api_client: client.ApiClient) -> None:
    api = client.NetworkingV1Api(kube_api_client)
    await api.create_namespaced_ingress("default", ingress("web", {"defaultBackend": service()}))
    causes = await rejected(
        api.patch_namespaced_ingress_status(
            "web",
            "default",
            {
                "status": {
                    "loadBalancer": {"ingress": [{"ip": "not-an-ip"}, {"hostname": "1.2.3.4"}]}
                }
            },
        )
    )
    assert set(causes) == {
        "status.loadBalancer.ingress[0].ip",
        "status.loadBalancer.ingress[1].hostname",
    }


async def test_wrong_json_type_is_a_decoding_error(kube_api_client: client.ApiClient) -> None:
    api = client.NetworkingV1Api(kube_api_client)
    body = ingress("web", {"defaultBackend": service(number="eighty")})
    with pytest.raises(ApiException) as err:
        await api.create_namespaced_ingress("default", body)
    assert err.value.status == 400


async def test_default_ingress_class_is_filled_in_on_create(
    kube_api_client: client.ApiClient,
) -> None:
    api = client.NetworkingV1Api(kube_api_client)
    await api.create_ingress_class(ingress_class("nginx", "k8s.io/ingress-nginx"))
    await api.create_ingress_class(ingress_class("alb", annotations={DEFAULT_CLASS: "true"}))
    plain = await api.create_namespaced_ingress(
        "default", ingress("plain", {"defaultBackend": service()})
    )
    assert plain.spec.ingress_class_name == "alb"
    legacy = await api.create_namespaced_ingress(
        "default",
        ingress(
            "legacy",
            {"defaultBackend": service()},
            annotations={"kubernetes.io/ingress.class": "nginx"},
        ),
    )
    assert legacy.spec.ingress_class_name is None, "the legacy annotation counts as a class"
    chosen = await api.create_namespaced_ingress(
        "default", ingress("chosen", {"ingressClassName": "nginx", "defaultBackend": service()})
    )
    assert chosen.spec.ingress_class_name == "nginx"
    cleared = await api.patch_namespaced_ingress(
        "plain", "default", [{"op": "remove", "path": "/spec/ingressClassName"}]
    )
    assert cleared.spec.ingress_class_name is None, "admission defaults on create only"


async def test_ingress_class_controller_is_immutable_and_parameters_scoped(
    kube_api_client: client.ApiClient,
) -> None:
    api = client.NetworkingV1Api(kube_api_client)
    body = ingress_class("alb")
    body["spec"]["parameters"] = {
        "apiGroup": "elbv2.k8s.aws",
        "kind": "IngressClassParams",
        "name": "alb",
    }
    created = await api.create_ingress_class(body)
    assert created.spec.parameters.scope == "Cluster", "scope defaults to Cluster"
    causes = await rejected(
        api.patch_ingress_class("alb", {"spec": {"controller": "k8s.io/ingress-nginx"}})
    )
    assert causes == {
        "spec.controller": 'Invalid value: "k8s.io/ingress-nginx": field is immutable'
    }
    causes = await rejected(
        api.patch_ingress_class("alb", {"spec": {"parameters": {"namespace": "kube-system"}}})
    )
    assert causes == {
        "spec.parameters.namespace": "Forbidden: `parameters.scope` is set to 'Cluster'"
    }
    causes = await rejected(
        api.patch_ingress_class("alb", {"spec": {"parameters": {"scope": "Namespace"}}})
    )
    assert causes == {
        "spec.parameters.namespace": "Required value: `parameters.scope` is set to 'Namespace'"
    }
    causes = await rejected(api.create_ingress_class(ingress_class("none", "")))
    assert causes == {"spec.controller": "Required value"}
    causes = await rejected(api.create_ingress_class(ingress_class("flat", "alb")))
    assert causes == {"spec.controller": 'Invalid value: "alb": must be a domain-prefixed path'}


async def test_lab_setup_helpers_apply_the_same_rules(lab_apiserver: LabApiServer) -> None:
    lab_apiserver.create(ingress_class("alb", annotations={DEFAULT_CLASS: "true"}))
    stored = lab_apiserver.create(ingress("web", {"defaultBackend": service()}))
    assert stored["spec"]["ingressClassName"] == "alb"
