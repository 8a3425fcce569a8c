"""Listener default actions and rules of an Ingress group, in LBC's order and with its patterns.

Per listener, rules come from every member using that port (members in group order), every
``spec.rules[]`` entry, and its paths sorted as LBC sorts them: Exact first, then Prefix longest
first (stable), then ImplementationSpecific (and unset) in written order. Priorities are 1, 2, …
per listener (the rule optimiser only removes rules shadowed by redirects, which lbc never
builds). Patterns: Prefix ``/`` is ``/*``; Prefix ``/foo`` (or ``/foo/``) is ``/foo`` and
``/foo/*``; Exact and Prefix must not contain ``*`` or ``?``; ImplementationSpecific is used as
written. A rule with a host gets a host-header condition before its path-pattern; a rule with
neither matches ``/*``.

A backend naming a Service that does not exist becomes a fixed 503 response (``Backend service
does not exist``) while ``tolerate_missing_backend_service`` is on, as LBC does, so one missing
Service does not take the whole group down.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lbc.core.stack.failures import BuildFailure
from lbc.core.stack.ingress_backends import BackendBuilder
from lbc.core.stack.ingress_groups import ClassifiedIngress
from lbc.core.stack.inputs import IngressBackendView, IngressPathView, ServiceView
from lbc.core.stack.model import (
    Action,
    ConditionField,
    FixedResponseAction,
    ForwardAction,
    RuleCondition,
)

USE_ANNOTATION = "use-annotation"
MISSING_SERVICE_BODY = "Backend service does not exist"
MISSING_ACTION_BODY = "Backend action does not exist"
NOT_FOUND_404 = FixedResponseAction(status_code="404", content_type="text/plain")

_EXACT, _PREFIX, _SPECIFIC = "Exact", "Prefix", "ImplementationSpecific"


def go_list(values: Sequence[object]) -> str:
    """Go's ``%v`` of a slice: ``[a b]``."""
    return "[" + " ".join(str(v) for v in values) + "]"


def sort_paths(paths: Sequence[IngressPathView]) -> list[IngressPathView]:
    exact: list[IngressPathView] = []
    prefix: list[IngressPathView] = []
    specific: list[IngressPathView] = []
    for path in paths:
        if path.path_type == _EXACT:
            exact.append(path)
        elif path.path_type == _PREFIX:
            prefix.append(path)
        elif path.path_type in {_SPECIFIC, ""}:
            specific.append(path)
        else:
            raise BuildFailure(f"unknown pathType for path {path.path}")
    prefix.sort(key=lambda p: -len(p.path))
    return exact + prefix + specific


def path_patterns(path: str, path_type: str) -> list[str]:
    if path_type == _EXACT:
        if "*" in path or "?" in path:
            raise BuildFailure(f"exact path shouldn't contain wildcards: {path}")
        return [path]
    if path_type == _PREFIX:
        if path == "/":
            return ["/*"]
        if "*" in path or "?" in path:
            raise BuildFailure(f"prefix path shouldn't contain wildcards: {path}")
        normalized = path.removesuffix("/")
        return [normalized, normalized + "/*"]
    return [path]


def conditions(host: str, path: IngressPathView) -> tuple[RuleCondition, ...]:
    found: list[RuleCondition] = []
    if host:
        found.append(RuleCondition(ConditionField.HOST_HEADER, (host,)))
    if path.path:
        patterns = path_patterns(path.path, path.path_type)
        found.append(RuleCondition(ConditionField.PATH_PATTERN, tuple(patterns)))
    if not found:
        found.append(RuleCondition(ConditionField.PATH_PATTERN, ("/*",)))
    return tuple(found)


def backend_action(
    member: ClassifiedIngress,
    backend: IngressBackendView,
    services: Mapping[tuple[str, str], ServiceView],
    backends: BackendBuilder,
) -> Action:
    """The action of one Ingress backend: forward to its target group, or a fixed 503."""
    if backend.resource or not backend.service_name:
        raise BuildFailure('missing required "service" field')
    config = backends.config
    if backend.service_port == USE_ANNOTATION:
        # The actions.<svc> annotation itself is outside lbc's allow-list (hands-off), so here
        # it is absent by construction: LBC then answers 503 when tolerating missing actions.
        if config.tolerate_missing_backend_action:
            return FixedResponseAction("503", "text/plain", MISSING_ACTION_BODY)
        raise BuildFailure(f"missing actions.{backend.service_name} configuration")
    service = services.get((member.ingress.namespace, backend.service_name))
    if service is None:
        if config.tolerate_missing_backend_service:
            return FixedResponseAction("503", "text/plain", MISSING_SERVICE_BODY)
        raise BuildFailure(f'services "{backend.service_name}" not found')
    port = 0 if backend.service_port is None else backend.service_port
    target_group = backends.target_group(member, service, port)
    return ForwardAction(target_group.resource_id)


def default_actions(
    members: Sequence[ClassifiedIngress],
    services: Mapping[tuple[str, str], ServiceView],
    backends: BackendBuilder,
) -> tuple[Action, ...]:
    """A listener's default action: 404, or the single member's ``spec.defaultBackend``."""
    with_default = [m for m in members if m.ingress.default_backend is not None]
    if not with_default:
        return (NOT_FOUND_404,)
    if len(with_default) > 1:
        keys = [m.ingress.key for m in with_default]
        raise BuildFailure(f"multiple ingress defined default backend: {go_list(keys)}")
    member = with_default[0]
    backend = member.ingress.default_backend
    if backend is None:  # pragma: no cover - filtered above
        return (NOT_FOUND_404,)
    return (backend_action(member, backend, services, backends),)


def member_rules(
    member: ClassifiedIngress,
    services: Mapping[tuple[str, str], ServiceView],
    backends: BackendBuilder,
) -> list[tuple[tuple[RuleCondition, ...], tuple[Action, ...]]]:
    """The (conditions, actions) of one member's rules, in LBC's order."""
    found: list[tuple[tuple[RuleCondition, ...], tuple[Action, ...]]] = []
    for rule in member.ingress.rules:
        for path in sort_paths(rule.paths):
            try:
                action = backend_action(member, path.backend, services, backends)
                found.append((conditions(rule.host, path), (action,)))
            except BuildFailure as err:
                raise BuildFailure(f"ingress: {member.ingress.key}: {err}") from err
    return found
