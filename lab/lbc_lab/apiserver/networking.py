"""``networking.k8s.io/v1`` Ingress and IngressClass as kube-apiserver serves them.

Load-balancer controllers read these objects and write Ingress status; a lab that stored any
JSON would bless manifests a real cluster refuses. So the lab reproduces, for the fields in use:

- the OpenAPI shape (so ``kubectl apply`` validates with ``fieldValidation=Strict`` and
  ``kubectl explain`` works), with unknown fields dropped as Go decoding drops them;
- the Go validators' 422s with their field paths and wording (``ValidateIngressCreate``,
  ``ValidateIngressUpdate``, ``ValidateIngressStatusUpdate``, ``ValidateIngressClass``):
  rules or defaultBackend required, pathType required and one of Exact/Prefix/
  ImplementationSpecific, absolute paths without ``//``/``/./``/``/../``/``%2f``, host names
  (wildcards allowed, IP addresses refused), backends with a service or a resource but not both,
  a service port by number (1-65535) or IANA name but not both, ingressClassName a DNS subdomain,
  the legacy ``kubernetes.io/ingress.class`` annotation agreeing with ingressClassName on create,
  status addresses that are IPs or DNS names; IngressClass ``spec.controller`` required,
  domain-prefixed and immutable, ``spec.parameters`` with kind, name and a scope (defaulted to
  Cluster) that agrees with ``namespace``;
- the ``DefaultIngressClass`` admission plugin: an Ingress created without a class (neither the
  field nor the legacy annotation) gets the IngressClass annotated
  ``ingressclass.kubernetes.io/is-default-class: "true"`` (the newest one if several are);
- the printed columns of ``kubectl get`` (CLASS, HOSTS, ADDRESS, PORTS; CONTROLLER,
  PARAMETERS), computed as the server's printers compute them.

Nothing here imports the resource registry: ``resources`` declares the types with these parts
and the schemas of ``netschemas``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Any

from lbc_lab.apiserver.names import DNS1035_MSG, LABEL_MSG, SUBDOMAIN_MSG
from lbc_lab.apiserver.status import CauseList

Obj = dict[str, Any]

INGRESSES = "ingresses.networking.k8s.io"
INGRESS_CLASSES = "ingressclasses.networking.k8s.io"
CLASS_ANNOTATION = "kubernetes.io/ingress.class"
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
PATH_TYPES = ("Exact", "ImplementationSpecific", "Prefix")

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_WILDCARD = re.compile(r"^\*\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_PORT_NAME_CHARS = re.compile(r"^[-a-z0-9]+$")
_PORT_NAME_LETTER = re.compile(r"[a-z]")
_BAD_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
_BAD_SUFFIXES = ("/..", "/.")
WILDCARD_MSG = (
    "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, "
    "which must consist of lower case alphanumeric characters, '-' or '.' and end with an "
    "alphanumeric character (e.g. '*.example.com', regex used for validation is "
    "'\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)

# -- printed columns ----------------------------------------------------------------------------


def _spec(obj: Obj) -> Obj:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def ingress_class_cell(obj: Obj) -> str:
    name = _spec(obj).get("ingressClassName")
    return str(name) if name else "<none>"


def ingress_hosts_cell(obj: Obj) -> str:
    """At most three hosts, then "+ N more..."; ``*`` when no rule names a host."""
    rules = [r for r in _spec(obj).get("rules") or [] if isinstance(r, dict)]
    hosts = [str(r["host"]) for r in rules[:3] if r.get("host")]
    if not hosts:
        return "*"
    shown = ",".join(hosts)
    return f"{shown} + {len(rules) - 3} more..." if len(rules) > 3 else shown


def load_balancer_cell(obj: Obj) -> str:
    """The status addresses (IP, else hostname), sorted and de-duplicated, comma-joined."""
    entries = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    found = {
        str(e.get("ip") or e.get("hostname"))
        for e in entries
        if isinstance(e, dict) and (e.get("ip") or e.get("hostname"))
    }
    return ",".join(sorted(found))


def ingress_ports_cell(obj: Obj) -> str:
    return "80, 443" if _spec(obj).get("tls") else "80"


def class_controller_cell(obj: Obj) -> str:
    return str(_spec(obj).get("controller") or "")


def class_parameters_cell(obj: Obj) -> str:
    params = _spec(obj).get("parameters")
    if not isinstance(params, dict):
        return "<none>"
    kind = str(params.get("kind") or "")
    if params.get("apiGroup"):
        kind = f"{kind}.{params['apiGroup']}"
    return f"{kind}/{params.get('name') or ''}"


# -- defaulting and admission -------------------------------------------------------------------


def default_ingress_class(obj: Obj, classes: Iterator[Obj]) -> None:
    """DefaultIngressClass admission on create: fill ``spec.ingressClassName`` if unset."""
    spec = obj.setdefault("spec", {})
    annotations = obj["metadata"].get("annotations") or {}
    if (
        not isinstance(spec, dict)
        or spec.get("ingressClassName")
        or CLASS_ANNOTATION in annotations
    ):
        return
    defaults = [
        c
        for c in classes
        if ((c["metadata"].get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION)) == "true"
    ]
    if defaults:
        newest = max(
            defaults,
            key=lambda c: (c["metadata"].get("creationTimestamp", ""), c["metadata"]["name"]),
        )
        spec["ingressClassName"] = newest["metadata"]["name"]


def default_ingress_class_spec(obj: Obj) -> None:
    """SetDefaults_IngressClass: a parameters reference without scope is Cluster-scoped."""
    spec = _spec(obj)
    params = spec.get("parameters")
    if isinstance(params, dict) and not params.get("scope"):
        # New dicts: the spec may be shared with the stored object.
        obj["spec"] = {**spec, "parameters": {**params, "scope": "Cluster"}}


# -- validation ---------------------------------------------------------------------------------


def validate_ingress(obj: Obj, old: Obj | None, causes: CauseList) -> None:
    """ValidateIngressCreate / ValidateIngressUpdate, plus the status rules."""
    spec = _spec(obj)
    if old is None:
        annotations = obj["metadata"].get("annotations") or {}
        legacy = annotations.get(CLASS_ANNOTATION)
        name = spec.get("ingressClassName")
        if legacy is not None and name and legacy != name:
            causes.bad_value(
                f"annotations.{CLASS_ANNOTATION}",
                legacy,
                "must match `ingressClassName` when both are specified",
            )
    rules = spec.get("rules") or []
    if not rules and spec.get("defaultBackend") is None:
        causes.add(
            "spec",
            "Invalid value: []networking.IngressRule(nil): either `defaultBackend` or `rules` "
            "must be specified",
        )
    if spec.get("defaultBackend") is not None:
        _backend(spec["defaultBackend"], "spec.defaultBackend", causes)
    for i, rule in enumerate(rules):
        _rule(rule if isinstance(rule, dict) else {}, f"spec.rules[{i}]", causes)
    for i, tls in enumerate(spec.get("tls") or []):
        for j, host in enumerate((tls or {}).get("hosts") or []):
            _host(str(host), f"spec.tls[{i}].hosts[{j}]", causes)
    class_name = spec.get("ingressClassName")
    if class_name is not None:
        _subdomain(str(class_name), "spec.ingressClassName", causes)
    _load_balancer_status(obj, "status.loadBalancer.ingress", causes)


def _rule(rule: Obj, path: str, causes: CauseList) -> None:
    host = rule.get("host")
    if host:
        _host(str(host), f"{path}.host", causes)
    http = rule.get("http")
    if http is None:
        return
    paths = (http or {}).get("paths") or []
    if not paths:
        causes.required(f"{path}.http.paths")
    for i, entry in enumerate(paths):
        _http_path(entry if isinstance(entry, dict) else {}, f"{path}.http.paths[{i}]", causes)


def _http_path(entry: Obj, path: str, causes: CauseList) -> None:
    path_type = entry.get("pathType")
    value = str(entry.get("path") or "")
    if path_type is None:
        causes.add(
            f"{path}.pathType",
            "Required value: pathType must be specified",
            "FieldValueRequired",
        )
    elif path_type in ("Exact", "Prefix"):
        if not value.startswith("/"):
            causes.bad_value(f"{path}.path", value, "must be an absolute path")
        for bad in _BAD_SEQUENCES:
            if bad in value:
                causes.bad_value(f"{path}.path", value, f"must not contain '{bad}'")
        for bad in _BAD_SUFFIXES:
            if value.endswith(bad):
                causes.bad_value(f"{path}.path", value, f"cannot end with '{bad}'")
    elif path_type == "ImplementationSpecific":
        if value and not value.startswith("/"):
            causes.bad_value(f"{path}.path", value, "must be an absolute path")
    else:
        supported = ", ".join(f'"{t}"' for t in PATH_TYPES)
        causes.add(
            f"{path}.pathType",
            f'Unsupported value: "{path_type}": supported values: {supported}',
            "FieldValueNotSupported",
        )
    backend = entry.get("backend")
    _backend(backend if isinstance(backend, dict) else {}, f"{path}.backend", causes)


def _backend(backend: Obj, path: str, causes: CauseList) -> None:
    service, resource = backend.get("service"), backend.get("resource")
    if service is not None and resource is not None:
        causes.bad_value(path, "", "cannot set both resource and service backends")
        return
    if resource is not None:
        ref = resource if isinstance(resource, dict) else {}
        if not ref.get("kind"):
            causes.required(f"{path}.resource.kind")
        if not ref.get("name"):
            causes.required(f"{path}.resource.name")
        if ref.get("apiGroup"):
            _subdomain(str(ref["apiGroup"]), f"{path}.resource.apiGroup", causes)
        return
    if service is None:
        causes.bad_value(path, "", "resource or service backend is required")
        return
    service = service if isinstance(service, dict) else {}
    name = str(service.get("name") or "")
    if not name:
        causes.required(f"{path}.service.name")
    elif len(name) > 63 or not _DNS1035.match(name):
        detail = "must be no more than 63 characters" if len(name) > 63 else DNS1035_MSG
        causes.bad_value(f"{path}.service.name", name, detail)
    port = service.get("port") or {}
    port_name, number = str(port.get("name") or ""), port.get("number") or 0
    if port_name and number:
        causes.bad_value(path, "", "cannot set both port name & port number")
    elif port_name:
        for message in port_name_errors(port_name):
            causes.bad_value(f"{path}.service.port.name", port_name, message)
    elif number:
        if not 1 <= int(number) <= 65535:
            causes.bad_value(
                f"{path}.service.port.number", number, "must be between 1 and 65535, inclusive"
            )
    else:
        causes.add(path, "Required value: port name or number is required", "FieldValueRequired")


def port_name_errors(name: str) -> list[str]:
    """IsValidPortName: an IANA service name (≤15 chars, a-z0-9 and '-', one letter at least)."""
    errors: list[str] = []
    if len(name) > 15:
        errors.append("must be no more than 15 characters")
    if not _PORT_NAME_CHARS.match(name):
        errors.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in name:
        errors.append("must not contain consecutive hyphens")
    if not _PORT_NAME_LETTER.search(name):
        errors.append("must contain at least one letter (a-z)")
    if name.startswith("-") or name.endswith("-"):
        errors.append("must not begin or end with a hyphen")
    return errors


def _host(host: str, path: str, causes: CauseList) -> None:
    if _is_ip(host):
        causes.bad_value(path, host, "must be a DNS name, not an IP address")
    if host.startswith("*"):
        if len(host) > 253 or not _WILDCARD.match(host):
            causes.bad_value(path, host, WILDCARD_MSG)
    else:
        _subdomain(host, path, causes)


def _subdomain(value: str, path: str, causes: CauseList) -> None:
    if len(value) > 253:
        causes.bad_value(path, value, "must be no more than 253 characters")
    if not _SUBDOMAIN.match(value):
        causes.bad_value(path, value, SUBDOMAIN_MSG)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _load_balancer_status(obj: Obj, path: str, causes: CauseList) -> None:
    entries = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    for i, raw in enumerate(entries):
        entry = raw if isinstance(raw, dict) else {}
        ip, hostname = entry.get("ip"), entry.get("hostname")
        if ip and not _is_ip(str(ip)):
            causes.bad_value(f"{path}[{i}].ip", ip, "must be a valid IP address")
        if hostname:
            if _is_ip(str(hostname)):
                causes.bad_value(
                    f"{path}[{i}].hostname", hostname, "must be a DNS name, not an IP address"
                )
            else:
                _subdomain(str(hostname), f"{path}[{i}].hostname", causes)
        for j, raw_port in enumerate(entry.get("ports") or []):
            port = raw_port if isinstance(raw_port, dict) else {}
            if not port.get("protocol"):
                causes.required(f"{path}[{i}].ports[{j}].protocol")
            elif port["protocol"] not in ("TCP", "UDP", "SCTP"):
                causes.add(
                    f"{path}[{i}].ports[{j}].protocol",
                    f'Unsupported value: "{port["protocol"]}": supported values: "SCTP", '
                    '"TCP", "UDP"',
                    "FieldValueNotSupported",
                )


_DOMAIN_PATH = re.compile(r"^[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$")


def validate_ingress_class(obj: Obj, old: Obj | None, causes: CauseList) -> None:
    """ValidateIngressClass (and ValidateIngressClassUpdate's immutable controller)."""
    spec = _spec(obj)
    controller = str(spec.get("controller") or "")
    if not controller:
        causes.required("spec.controller")
    else:
        if len(controller) > 250:
            causes.add(
                "spec.controller", "Too long: may not be more than 250 bytes", "FieldValueTooLong"
            )
        domain, slash, rest = controller.partition("/")
        if not slash or not rest:
            causes.bad_value("spec.controller", controller, "must be a domain-prefixed path")
        elif not _SUBDOMAIN.match(domain):
            causes.bad_value("spec.controller", domain, SUBDOMAIN_MSG)
        elif not _DOMAIN_PATH.match(rest):
            causes.bad_value(
                "spec.controller",
                controller,
                "segment of path must contain only valid characters",
            )
    if old is not None and controller != str(_spec(old).get("controller") or ""):
        causes.bad_value("spec.controller", controller, "field is immutable")
    params = spec.get("parameters")
    if isinstance(params, dict):
        _parameters(params, "spec.parameters", causes)


def _parameters(params: Obj, path: str, causes: CauseList) -> None:
    for key in ("kind", "name"):
        value = params.get(key)
        if not value:
            causes.required(f"{path}.{key}")
        elif "/" in str(value) or "%" in str(value) or value in (".", ".."):
            causes.bad_value(f"{path}.{key}", value, "may not contain '/' or '%'")
    if params.get("apiGroup"):
        _subdomain(str(params["apiGroup"]), f"{path}.apiGroup", causes)
    scope = params.get("scope")
    namespace = params.get("namespace")
    if scope not in ("Cluster", "Namespace"):
        causes.add(
            f"{path}.scope",
            f'Unsupported value: "{scope}": supported values: "Cluster", "Namespace"',
            "FieldValueNotSupported",
        )
    elif scope == "Namespace":
        if namespace is None:
            causes.add(
                f"{path}.namespace",
                "Required value: `parameters.scope` is set to 'Namespace'",
                "FieldValueRequired",
            )
        elif len(str(namespace)) > 63 or not _LABEL.match(str(namespace)):
            causes.bad_value(f"{path}.namespace", namespace, LABEL_MSG)
    elif namespace is not None:
        causes.add(
            f"{path}.namespace",
            "Forbidden: `parameters.scope` is set to 'Cluster'",
            "FieldValueForbidden",
        )
