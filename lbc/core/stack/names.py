"""AWS resource names and stack resource ids, byte-for-byte as LBC computes them.

Names are not the compatibility contract (resources are found by tags and paired by resource-id
tag), but they must match LBC anyway: runbooks and ``kubectl get targetgroupbinding`` show them,
and two controllers racing on a fresh stack must collide on one name rather than build two
stacks. The known-answer vectors from LBC's own tests are in ``tests/unit/core/stack``.

The rules:
- *sanitise* drops every character outside ASCII ``[A-Za-z0-9]`` (Go's ``[[:alnum:]]`` is
  ASCII-only, so ``str.isalnum()`` would be wrong for ``é`` or ``٣``);
- *hash* is the lower-case hex SHA-256 of the inputs written back to back as UTF-8, no
  separator, cut to its first 10 characters;
- ``x[:n]`` truncates after sanitising. Sanitised strings are ASCII, so characters are bytes
  and Go's ``%.8s`` (runes) agrees with Python slicing.

Every generated name is at most 32 characters by construction; an explicit name is checked by
:func:`check_explicit_name` (LBC counts bytes).
"""

from __future__ import annotations

import hashlib
import re

from lbc.core.stack.model import StackId

#: The longest load balancer / target group name AWS accepts.
MAX_NAME = 32

_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")


def sanitize(value: str) -> str:
    """``value`` with every character outside ASCII letters and digits removed."""
    return _NOT_ALNUM.sub("", value)


def short_hash(*parts: str) -> str:
    """First 10 hex characters of SHA-256 over ``parts`` concatenated (no separator)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
    return digest.hexdigest()[:10]


def _two_part(namespace: str, name: str, digest: str) -> str:
    return f"k8s-{sanitize(namespace)[:8]}-{sanitize(name)[:8]}-{digest}"


def _group_shaped(group: StackId, digest: str) -> str:
    if group.explicit:
        return f"k8s-{sanitize(group.name)[:17]}-{digest}"
    return _two_part(group.namespace, group.name, digest)


def check_explicit_name(name: str) -> str | None:
    """LBC's error for an explicit load balancer name, or ``None`` when it is acceptable.

    LBC validates only the length (in bytes); AWS validates the characters.
    """
    if len(name.encode()) > MAX_NAME:
        return "load balancer name cannot be longer than 32 characters"
    return None


# --- Ingress ---------------------------------------------------------------------------------


def alb_name(cluster: str, group: StackId, scheme: str) -> str:
    """Generated ALB name of an Ingress group: H(cluster, group id, scheme)."""
    return _group_shaped(group, short_hash(cluster, group.value, scheme))


def alb_security_group_name(cluster: str, group: StackId) -> str:
    """Managed frontend SG of an Ingress group: as the ALB name, but the scheme is not hashed."""
    return _group_shaped(group, short_hash(cluster, group.value))


def ingress_target_group_name(
    cluster: str,
    group: StackId,
    *,
    ingress_namespace: str,
    ingress_name: str,
    service_namespace: str,
    service_name: str,
    service_uid: str,
    backend_port: int | str,
    target_group_port: int,
    target_type: str,
    protocol: str,
    protocol_version: str,
    target_control_port: int | None = None,
) -> str:
    """ALB target group (and TargetGroupBinding) name.

    ``backend_port`` is the Ingress backend port as written: a number (hashed in decimal) or a
    port name. The optional target-control port is hashed only when set.
    """
    parts = [
        cluster,
        group.value,
        ingress_namespace,
        ingress_name,
        service_uid,
        str(backend_port),
        str(target_group_port),
        target_type,
        protocol,
        protocol_version,
    ]
    if target_control_port is not None:
        parts.append(str(target_control_port))
    return _two_part(service_namespace, service_name, short_hash(*parts))


def ingress_target_group_id(
    ingress_namespace: str, ingress_name: str, service_name: str, backend_port: int | str
) -> str:
    """Resource id of an Ingress target group: ``<ingNs>/<ingName>-<svcName>:<port as written>``."""
    return f"{ingress_namespace}/{ingress_name}-{service_name}:{backend_port}"


# --- Service ---------------------------------------------------------------------------------


def nlb_name(cluster: str, namespace: str, name: str, uid: str, scheme: str) -> str:
    """Generated NLB name of a Service: H(cluster, Service UID, scheme)."""
    return _two_part(namespace, name, short_hash(cluster, uid, scheme))


def nlb_security_group_name(cluster: str, namespace: str, name: str, uid: str) -> str:
    """Managed frontend SG of a Service: H(cluster, name, namespace, UID): name before namespace."""
    return _two_part(namespace, name, short_hash(cluster, name, namespace, uid))


def service_target_group_name(
    cluster: str,
    namespace: str,
    name: str,
    uid: str,
    *,
    target_group_port: int,
    service_port: int,
    target_type: str,
    protocol: str,
    health_check_protocol: str,
    health_check_interval: int,
    base_service_uid: str = "",
) -> str:
    """NLB target group (and TargetGroupBinding) name.

    ``base_service_uid`` is hashed (before the Service UID) only for weighted target groups of
    another Service, which lbc does not build; it exists so the rule is complete.
    """
    parts = [cluster]
    if base_service_uid:
        parts.append(base_service_uid)
    parts += [
        uid,
        str(target_group_port),
        str(service_port),
        target_type,
        protocol,
        health_check_protocol,
        str(health_check_interval),
    ]
    return _two_part(namespace, name, short_hash(*parts))


def service_target_group_id(namespace: str, name: str, service_port: int) -> str:
    """Resource id of a Service target group: ``<ns>/<svc>:<service port>``."""
    return f"{namespace}/{name}:{service_port}"


# --- Shared ----------------------------------------------------------------------------------


def backend_security_group_name(cluster: str) -> str:
    """The cluster's shared backend SG: ``k8s-traffic-<cluster[:232]>-<H(cluster)>``."""
    return f"k8s-traffic-{sanitize(cluster)[:232]}-{short_hash(cluster)}"


def listener_id(port: int) -> str:
    return str(port)


def rule_id(port: int, priority: int) -> str:
    return f"{port}:{priority}"
