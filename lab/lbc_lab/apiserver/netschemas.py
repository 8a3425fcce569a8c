"""OpenAPI schemas of ``networking.k8s.io/v1`` Ingress and IngressClass (the v1 shapes).

Structural, like a CRD's, so the lab's schema code drops unknown fields and kubectl validates and
explains them. No ``required`` and no enums: kube-apiserver reports those through its Go
validators (see ``networking``), with their own wording.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def _str() -> Obj:
    return {"type": "string"}


def _int32() -> Obj:
    return {"type": "integer", "format": "int32"}


def _array(items: Obj) -> Obj:
    return {"type": "array", "items": items, "x-kubernetes-list-type": "atomic"}


def _obj(description: str, **properties: Obj) -> Obj:
    return {"type": "object", "description": description, "properties": properties}


_TYPED_REFERENCE = _obj(
    "A reference to another object in the same namespace.",
    apiGroup=_str(),
    kind=_str(),
    name=_str(),
)
_BACKEND = _obj(
    "Where matching requests go: a Service port, or another resource.",
    service=_obj(
        "A Service and one of its ports (by number or by name).",
        name=_str(),
        port=_obj("The Service port, by number or by name.", name=_str(), number=_int32()),
    ),
    resource=_TYPED_REFERENCE,
)
_LOAD_BALANCER_STATUS = _obj(
    "The points of entry of the load balancer serving this object.",
    ingress=_array(
        _obj(
            "One point of entry: an IP address or a DNS name.",
            ip=_str(),
            hostname=_str(),
            ports=_array(
                _obj("A port of this entry.", port=_int32(), protocol=_str(), error=_str())
            ),
        )
    ),
)

INGRESS_SCHEMA: Obj = {
    "type": "object",
    "description": "Ingress: rules that route external HTTP traffic to Services.",
    "properties": {
        "apiVersion": _str(),
        "kind": _str(),
        "metadata": {"type": "object"},
        "spec": _obj(
            "What the Ingress routes, and which class of controller implements it.",
            defaultBackend=_BACKEND,
            ingressClassName=_str(),
            rules=_array(
                _obj(
                    "Requests for one host (all hosts when empty) and their HTTP paths.",
                    host=_str(),
                    http=_obj(
                        "HTTP paths, matched in order of specificity.",
                        paths=_array(
                            _obj(
                                "A path and the backend its requests go to.",
                                path=_str(),
                                # No enum: the validator reports it with the Go wording.
                                pathType={
                                    **_str(),
                                    "description": "Exact, Prefix or ImplementationSpecific.",
                                },
                                backend=_BACKEND,
                            )
                        ),
                    ),
                )
            ),
            tls=_array(
                _obj(
                    "Hosts served over TLS and the Secret holding their certificate.",
                    hosts=_array(_str()),
                    secretName=_str(),
                )
            ),
        ),
        "status": _obj("What the controller reports.", loadBalancer=_LOAD_BALANCER_STATUS),
    },
}
INGRESS_CLASS_SCHEMA: Obj = {
    "type": "object",
    "description": "IngressClass: a class of Ingresses and the controller that implements it.",
    "properties": {
        "apiVersion": _str(),
        "kind": _str(),
        "metadata": {"type": "object"},
        "spec": _obj(
            "The controller and its parameters.",
            controller=_str(),
            parameters=_obj(
                "A reference to the object holding the class's configuration.",
                apiGroup=_str(),
                kind=_str(),
                name=_str(),
                namespace=_str(),
                scope=_str(),
            ),
        ),
    },
}
