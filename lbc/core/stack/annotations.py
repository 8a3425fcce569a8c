"""Annotation parsing with LBC's semantics, the supported allow-lists, and hands-off detection.

Parsing follows LBC's annotation parser exactly, because a value LBC accepts and lbc refuses
(or the reverse) changes what gets built when a cluster switches controllers:

- booleans are Go's ``strconv.ParseBool`` set (``1 t T TRUE true True 0 f F FALSE false
  False``); anything else is an error, never Python truthiness;
- integers are base-10 ``int32`` (optional sign, digits only, no spaces or underscores);
- string maps are ``k=v,k=v``: a backslash escapes the next character, a comma ends a pair only
  when an ``=`` follows somewhere after it, keys and values are trimmed, an empty key or a pair
  without ``=`` is an error;
- lists are comma-separated, trimmed, empty items dropped.

Hands-off (the safety rule for takeover): a stack whose objects carry any key under the
controller's annotation prefix outside the supported list, or a supported key with a value lbc
does not implement (an HTTPS ``listen-ports`` entry, a dual-stack IP address type), is not
touched at all. :func:`unsupported_ingress_keys` and friends return those keys.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from lbc.core.stack.failures import BuildFailure

INGRESS_PREFIX = "alb.ingress.kubernetes.io/"
SERVICE_PREFIX = "service.beta.kubernetes.io/"
#: The part of the Service namespace LBC's NLB annotations live under (hands-off scope).
SERVICE_LB_PREFIX = SERVICE_PREFIX + "aws-load-balancer-"

INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
#: lbc's own consent to delete a stack other clusters still send traffic through.
DELETE_SHARED_STACK = "lbc.k8s.aws/delete-shared-stack"

#: Ingress annotation suffixes also read from the backend Service (the Service wins on a clash).
INGRESS_BACKEND_SUFFIXES = frozenset(
    {
        "tags",
        "target-type",
        "backend-protocol",
        "backend-protocol-version",
        "healthcheck-port",
        "healthcheck-protocol",
        "healthcheck-path",
        "healthcheck-interval-seconds",
        "healthcheck-timeout-seconds",
        "healthy-threshold-count",
        "unhealthy-threshold-count",
        "success-codes",
        "target-group-attributes",
        "target-node-labels",
        "multi-cluster-target-group",
    }
)

#: Every Ingress annotation suffix lbc implements.
INGRESS_SUFFIXES = INGRESS_BACKEND_SUFFIXES | {
    "scheme",
    "subnets",
    "load-balancer-name",
    "ip-address-type",
    "load-balancer-attributes",
    "listen-ports",
    "inbound-cidrs",
    "group.name",
    "group.order",
}

#: Ingress annotations LBC *writes* (its ``IngressPlanAnnotation`` gate): outputs that change
#: nothing lbc builds, so they do not make a stack hands-off.
INGRESS_OUTPUT_SUFFIXES = frozenset({"dry-run-plan"})

#: Every Service annotation suffix (after ``service.beta.kubernetes.io/``) lbc implements.
SERVICE_SUFFIXES = frozenset(
    {
        "aws-load-balancer-type",
        "aws-load-balancer-nlb-target-type",
        "aws-load-balancer-scheme",
        "aws-load-balancer-internal",
        "aws-load-balancer-subnets",
        "aws-load-balancer-name",
        "aws-load-balancer-additional-resource-tags",
        "aws-load-balancer-ip-address-type",
        "aws-load-balancer-attributes",
        "aws-load-balancer-target-group-attributes",
        "aws-load-balancer-healthcheck-protocol",
        "aws-load-balancer-healthcheck-port",
        "aws-load-balancer-healthcheck-path",
        "aws-load-balancer-healthcheck-interval",
        "aws-load-balancer-healthcheck-timeout",
        "aws-load-balancer-healthcheck-healthy-threshold",
        "aws-load-balancer-healthcheck-unhealthy-threshold",
        "aws-load-balancer-healthcheck-success-codes",
        "aws-load-balancer-target-node-labels",
        "aws-load-balancer-disable-nlb-sg",
        "aws-load-balancer-multi-cluster-target-group",
        # Outside the aws-load-balancer- scope, listed for completeness of what is read.
        "load-balancer-source-ranges",
    }
)

#: IngressClassParams spec fields lbc implements (anything else set means hands-off).
PARAMS_FIELDS = frozenset(
    {
        "scheme",
        "group",
        "tags",
        "loadBalancerName",
        "targetType",
        "ipAddressType",
        "subnets",
        "inboundCIDRs",
        "namespaceSelector",
    }
)

_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_INT = re.compile(r"[+-]?[0-9]+")
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


class AnnotationError(BuildFailure):
    """An annotation value LBC would refuse; the message is LBC's."""


def parse_bool(key: str, raw: str) -> bool:
    """Go ``strconv.ParseBool``."""
    if raw in _GO_TRUE:
        return True
    if raw in _GO_FALSE:
        return False
    raise AnnotationError(
        f'failed to parse bool annotation, {key}: {raw}: strconv.ParseBool: parsing "{raw}": '
        "invalid syntax"
    )


def parse_int32(key: str, raw: str) -> int:
    """Go ``strconv.ParseInt(raw, 10, 32)``."""
    if not _INT.fullmatch(raw):
        problem = "invalid syntax"
    else:
        value = int(raw)
        if _INT32_MIN <= value <= _INT32_MAX:
            return value
        problem = "value out of range"
    raise AnnotationError(
        f'failed to parse int32 annotation, {key}: {raw}: strconv.ParseInt: parsing "{raw}": '
        f"{problem}"
    )


def parse_intstr(raw: str) -> int | str:
    """Kubernetes ``intstr.Parse``: an int when Go's ``strconv.Atoi`` accepts it, else the
    string itself (a port name)."""
    body = raw[1:] if raw[:1] in {"+", "-"} else raw
    if body and body.isascii() and body.isdigit():
        return int(raw)
    return raw


def split_list(raw: str) -> tuple[str, ...]:
    """A comma-separated list: items trimmed, empty items dropped."""
    return tuple(item for item in (part.strip() for part in raw.split(",")) if item)


def _split_pairs(raw: str) -> list[str]:
    """LBC's ``splitKeyValuePairs``: where ``k=v,k=v`` splits, with backslash escapes."""
    pairs: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(raw):
        char = raw[i]
        if char == "\\" and i + 1 < len(raw):
            current.append(raw[i + 1])
            i += 2
            continue
        if char == ",":
            remaining = raw[i + 1 :].strip()
            if "=" in remaining:
                pairs.append("".join(current).strip())
                current = []
            elif remaining:
                pairs.append("".join(current).strip())
                pairs.append(remaining)
                return pairs
            else:
                current.append(char)
        else:
            current.append(char)
        i += 1
    if current:
        pairs.append("".join(current).strip())
    return pairs


def parse_string_map(key: str, raw: str) -> dict[str, str]:
    """LBC's ``k=v,k=v`` map; a later duplicate key overwrites an earlier one."""
    result: dict[str, str] = {}
    for pair in _split_pairs(raw):
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise AnnotationError(f"failed to parse stringMap annotation, {key}: {raw}")
        result[name] = value.strip()
    return result


def parse_json(key: str, raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as err:
        raise AnnotationError(f"failed to parse json annotation, {key}: {raw}: {err}") from err


class Annotations:
    """Typed look-ups of ``<prefix><suffix>`` keys in one annotation map.

    Every getter returns ``None`` when the key is absent and raises :class:`AnnotationError`
    when it is present but malformed, as LBC's parser does.
    """

    __slots__ = ("_map", "_prefix")

    def __init__(self, annotations: Mapping[str, str], prefix: str) -> None:
        self._map = annotations
        self._prefix = prefix

    def key(self, suffix: str) -> str:
        return self._prefix + suffix

    def string(self, suffix: str) -> str | None:
        return self._map.get(self._prefix + suffix)

    def boolean(self, suffix: str) -> bool | None:
        raw = self.string(suffix)
        return None if raw is None else parse_bool(self.key(suffix), raw)

    def int32(self, suffix: str) -> int | None:
        raw = self.string(suffix)
        return None if raw is None else parse_int32(self.key(suffix), raw)

    def string_list(self, suffix: str) -> tuple[str, ...] | None:
        raw = self.string(suffix)
        return None if raw is None else split_list(raw)

    def string_map(self, suffix: str) -> dict[str, str] | None:
        raw = self.string(suffix)
        return None if raw is None else parse_string_map(self.key(suffix), raw)

    def json(self, suffix: str) -> Any:
        raw = self.string(suffix)
        return None if raw is None else parse_json(self.key(suffix), raw)


def ingress_annotations(annotations: Mapping[str, str]) -> Annotations:
    return Annotations(annotations, INGRESS_PREFIX)


def service_annotations(annotations: Mapping[str, str]) -> Annotations:
    return Annotations(annotations, SERVICE_PREFIX)


def _outside(
    annotations: Iterable[str], scope: str, prefix: str, allowed: frozenset[str]
) -> list[str]:
    """Keys starting with ``scope`` whose part after ``prefix`` is not ``allowed``."""
    return [k for k in annotations if k.startswith(scope) and k[len(prefix) :] not in allowed]


def _https_listen_ports(raw: str) -> bool:
    """True when ``listen-ports`` parses and names HTTPS (malformed input is a build error)."""
    try:
        entries = json.loads(raw)
    except ValueError:
        return False
    if not isinstance(entries, list):
        return False
    return any(isinstance(e, dict) and "HTTPS" in e for e in entries)


_DUAL_STACK = frozenset({"dualstack", "dualstack-without-public-ipv4"})


def _dual_stack(value: str | None) -> bool:
    """A dual-stack IP address type (deferred); other non-ipv4 values are build errors."""
    return value in _DUAL_STACK


def unsupported_ingress_keys(annotations: Mapping[str, str]) -> tuple[str, ...]:
    """Keys of an Ingress that lbc does not implement (empty: lbc may manage it)."""
    allowed = INGRESS_SUFFIXES | INGRESS_OUTPUT_SUFFIXES
    found = _outside(annotations, INGRESS_PREFIX, INGRESS_PREFIX, allowed)
    ports = annotations.get(INGRESS_PREFIX + "listen-ports")
    if ports is not None and _https_listen_ports(ports):
        found.append(INGRESS_PREFIX + "listen-ports")
    if _dual_stack(annotations.get(INGRESS_PREFIX + "ip-address-type")):
        found.append(INGRESS_PREFIX + "ip-address-type")
    return tuple(sorted(found))


def unsupported_backend_keys(annotations: Mapping[str, str]) -> tuple[str, ...]:
    """``alb.ingress.kubernetes.io/`` keys on a backend Service that lbc does not implement.

    LBC reads target-group settings from the backend Service too (``target-control-port.*``
    for instance), so an unknown key there is as dangerous as on the Ingress.
    """
    return tuple(
        sorted(_outside(annotations, INGRESS_PREFIX, INGRESS_PREFIX, INGRESS_BACKEND_SUFFIXES))
    )


#: ``aws-load-balancer-target-group-attributes.<port>``: per-port target-group attributes.
PORT_TG_ATTRIBUTES = re.compile(r"aws-load-balancer-target-group-attributes\.[0-9]+")


def unsupported_service_keys(annotations: Mapping[str, str]) -> tuple[str, ...]:
    """Keys of an NLB Service that lbc does not implement (empty: lbc may manage it)."""
    found = [
        k
        for k in _outside(annotations, SERVICE_LB_PREFIX, SERVICE_PREFIX, SERVICE_SUFFIXES)
        if not PORT_TG_ATTRIBUTES.fullmatch(k[len(SERVICE_PREFIX) :])
    ]
    if _dual_stack(annotations.get(SERVICE_PREFIX + "aws-load-balancer-ip-address-type")):
        found.append(SERVICE_PREFIX + "aws-load-balancer-ip-address-type")
    return tuple(sorted(found))


def delete_shared_stack_consent(annotations: Mapping[str, str]) -> bool:
    """The ``lbc.k8s.aws/delete-shared-stack`` consent (Go boolean; malformed is an error)."""
    raw = annotations.get(DELETE_SHARED_STACK)
    return raw is not None and parse_bool(DELETE_SHARED_STACK, raw)
