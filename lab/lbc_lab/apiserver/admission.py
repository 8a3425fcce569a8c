"""Dynamic admission in the lab: registered webhooks called as kube-apiserver calls them.

A MutatingWebhookConfiguration or ValidatingWebhookConfiguration stored in the lab takes
effect at once for every create, update, patch and delete that its webhooks match, so lbc's
webhooks are exercised end to end through kubectl and the daemon's own clients.

What is reproduced (admissionregistration.k8s.io/v1):

- matching: ``rules`` (operations, apiGroups, apiVersions, resources with ``*``,
  ``x/status``, ``*/status``, ``*/*``, and ``scope``), ``namespaceSelector`` (the namespace's
  labels; a Namespace is matched on its own labels, other cluster-scoped objects always match),
  ``objectSelector`` (the new or the old object's labels);
- calling: ``clientConfig.url`` over HTTPS, the server certificate verified against the
  configuration's ``caBundle`` (hostname included), ``timeoutSeconds`` (default 10), a request
  with a fresh uid, kind/resource, userInfo, object, oldObject and dryRun; an answer with
  another uid or without ``allowed`` counts as a failed call;
- outcome: a failed call obeys ``failurePolicy`` (default ``Fail``: 500 "failed calling
  webhook"; ``Ignore``: skipped); a denial is returned with the webhook's code and message
  prefixed ``admission webhook "<name>" denied the request:``; warnings become ``Warning``
  headers;
- order: mutating webhooks one after another (configurations by name, webhooks in order), each
  seeing the previous one's JSON patch applied; then validating webhooks, concurrently, on the
  final object; then the write.

How a write is admitted: the requested operation is first run as a dry run (so a patch is
applied, defaults set and the schema checked exactly as for the real write); the webhooks see
that result; then the real write happens. Unmutated, the original request is replayed (field
managers record what they would have); mutated, the result is stored as an update guarded by
the resourceVersion seen by the dry run. If the object changed while the webhooks were
deciding, the request fails with 409, as an optimistic-concurrency conflict would.

Approximations: ``clientConfig.service`` is not routed (the lab has no Service network): such
a call fails and ``failurePolicy`` decides; ``matchPolicy`` is treated as ``Equivalent`` for
versions of one group/resource, but the object is sent in the version requested, unconverted;
``reinvocationPolicy``, ``matchConditions`` and ``sideEffects`` (dry runs are sent to every
webhook) are not enforced; mutating webhooks are not called for DELETE; ``deletecollection``
is not reviewed per item.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import ssl
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
import orjson
from aiohttp import web
from lbc.core.binding import InvalidBindingError, LabelSelector, parse_selector

from lbc_lab.apiserver.objects import Objects, WriteOptions
from lbc_lab.apiserver.patch import json_patch
from lbc_lab.apiserver.requests import Target, patch_type, query_flag, read_body
from lbc_lab.apiserver.resources import ResourceType
from lbc_lab.apiserver.status import STALE, ApiError, bad_request, conflict
from lbc_lab.apiserver.store import Obj

MUTATING: Final = "mutatingwebhookconfigurations.admissionregistration.k8s.io"
VALIDATING: Final = "validatingwebhookconfigurations.admissionregistration.k8s.io"
OPERATIONS: Final = {"create": "CREATE", "update": "UPDATE", "patch": "UPDATE", "delete": "DELETE"}
DEFAULT_TIMEOUT: Final = 10

_contexts: dict[str, ssl.SSLContext] = {}


@dataclass(frozen=True, slots=True)
class Hook:
    """One webhook of a stored configuration."""

    name: str
    mutating: bool
    config: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Call:
    """What one admission request is about."""

    operation: str
    rtype: ResourceType
    namespace: str
    name: str
    subresource: str
    user: str
    groups: tuple[str, ...]
    dry_run: bool


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _matches_resource(patterns: list[Any], resource: str, subresource: str) -> bool:
    full = f"{resource}/{subresource}" if subresource else resource
    for pattern in patterns:
        if pattern in ("*/*", full):
            return True
        if pattern == "*" and not subresource:
            return True
        if subresource and pattern == f"*/{subresource}":
            return True
        if subresource and pattern == f"{resource}/*":
            return True
    return False


def rule_matches(rule: Mapping[str, Any], call: Call) -> bool:
    """One entry of ``rules`` against the request (kube's ``RuleWithOperations``)."""
    rtype = call.rtype
    operations = _list(rule.get("operations"))
    groups = _list(rule.get("apiGroups"))
    versions = _list(rule.get("apiVersions"))
    scope = rule.get("scope", "*")
    return (
        ("*" in operations or call.operation in operations)
        and ("*" in groups or rtype.group in groups)
        # matchPolicy Equivalent: any served version of the same group/resource matches.
        and bool(versions)
        and _matches_resource(_list(rule.get("resources")), rtype.plural, call.subresource)
        and (
            scope == "*"
            or (scope == "Namespaced" and rtype.namespaced)
            or (scope == "Cluster" and not rtype.namespaced)
        )
    )


def _selector(raw: Any) -> LabelSelector | None:
    if not isinstance(raw, Mapping) or not raw:
        return None
    try:
        return parse_selector(raw, "selector")
    except InvalidBindingError as err:
        raise ApiError(500, f"invalid webhook selector: {err}") from None


def _labels(obj: Obj | None) -> dict[str, str]:
    return dict(((obj or {}).get("metadata") or {}).get("labels") or {})


def selected(objects: Objects, hook: Hook, call: Call, new: Obj | None, old: Obj | None) -> bool:
    """``namespaceSelector`` and ``objectSelector`` of ``hook`` against the request."""
    namespaces = _selector(hook.config.get("namespaceSelector"))
    if namespaces is not None:
        if call.rtype.plural == "namespaces" and call.rtype.group == "":
            if not namespaces.matches(_labels(new or old)):
                return False
        elif call.rtype.namespaced:
            ns = objects.store.get("namespaces", "", call.namespace)
            if not namespaces.matches(_labels(ns)):
                return False
    chosen = _selector(hook.config.get("objectSelector"))
    if chosen is None:
        return True
    return any(chosen.matches(_labels(o)) for o in (new, old) if o is not None)


def hooks_for(objects: Objects, call: Call) -> list[Hook]:
    """Webhooks whose rules match, mutating first (configurations by name, then in order)."""
    found: list[Hook] = []
    for storage, mutating in ((MUTATING, True), (VALIDATING, False)):
        configs = sorted(
            objects.store.iter_objects(storage, None), key=lambda c: c["metadata"]["name"]
        )
        for config in configs:
            found.extend(
                Hook(str(hook.get("name", "")), mutating, hook)
                for hook in _list(config.get("webhooks"))
                if isinstance(hook, Mapping)
                and any(
                    isinstance(r, Mapping) and rule_matches(r, call)
                    for r in _list(hook.get("rules"))
                )
            )
    return found


def _context(ca_bundle: str) -> ssl.SSLContext:
    context = _contexts.get(ca_bundle)
    if context is None:
        if ca_bundle:
            pem = base64.b64decode(ca_bundle).decode()
            context = ssl.create_default_context(cadata=pem)
        else:
            context = ssl.create_default_context()
        _contexts[ca_bundle] = context
    return context


class _CallFailedError(Exception):
    """The webhook could not be called, or answered nonsense (``failurePolicy`` applies)."""


def _review(hook: Hook, call: Call, new: Obj | None, old: Obj | None) -> Obj:
    rtype = call.rtype
    kind = {"group": rtype.group, "version": rtype.version, "kind": rtype.kind}
    resource = {"group": rtype.group, "version": rtype.version, "resource": rtype.plural}
    request: Obj = {
        "uid": str(uuid.uuid4()),
        "kind": kind,
        "resource": resource,
        "requestKind": kind,
        "requestResource": resource,
        "name": call.name,
        "namespace": call.namespace,
        "operation": call.operation,
        "userInfo": {"username": call.user, "groups": list(call.groups)},
        "object": new,
        "oldObject": old,
        "dryRun": call.dry_run,
    }
    if call.subresource:
        request["subResource"] = call.subresource
    versions = _list(hook.config.get("admissionReviewVersions"))
    if "v1" not in versions:
        raise _CallFailedError(f"admissionReviewVersions {versions} does not include v1")
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


async def call_hook(hook: Hook, review: Obj) -> Mapping[str, Any]:
    """POST the review; returns its ``response`` or raises :class:`_CallFailedError`."""
    client = hook.config.get("clientConfig") or {}
    url = client.get("url")
    if not isinstance(url, str) or not url:
        raise _CallFailedError("the lab routes only clientConfig.url, not service references")
    timeout = hook.config.get("timeoutSeconds") or DEFAULT_TIMEOUT
    try:
        context = _context(str(client.get("caBundle", "")))
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=float(timeout))) as session,
            session.post(
                url,
                data=orjson.dumps(review),
                ssl=context,
                headers={"Content-Type": "application/json"},
            ) as response,
        ):
            if response.status != 200:
                raise _CallFailedError(f"the server responded with status {response.status}")
            body = orjson.loads(await response.read())
    except (aiohttp.ClientError, TimeoutError, ssl.SSLError, ValueError) as err:
        raise _CallFailedError(f'Post "{url}": {type(err).__name__}: {err}') from None
    answer = body.get("response") if isinstance(body, Mapping) else None
    if not isinstance(answer, Mapping) or answer.get("uid") != review["request"]["uid"]:
        raise _CallFailedError("the response does not answer this request's uid")
    if not isinstance(answer.get("allowed"), bool):
        raise _CallFailedError("the response has no allowed field")
    return answer


def _denied(hook: Hook, answer: Mapping[str, Any]) -> ApiError:
    status = answer.get("status") or {}
    code = status.get("code") if isinstance(status.get("code"), int) else 400
    message = str(status.get("message", ""))
    text = f'admission webhook "{hook.name}" denied the request'
    return ApiError(code or 400, f"{text}: {message}" if message else f"{text} without explanation")


def _patched(hook: Hook, answer: Mapping[str, Any], obj: Obj) -> Obj:
    raw = answer.get("patch")
    if not raw:
        return obj
    if answer.get("patchType") != "JSONPatch":
        raise _CallFailedError(f"unsupported patchType {answer.get('patchType')!r}")
    try:
        ops = orjson.loads(base64.b64decode(str(raw)))
    except ValueError as err:
        raise _CallFailedError(f"undecodable patch: {err}") from None
    try:
        patched = json_patch(obj, ops)
    except ApiError as err:
        raise _CallFailedError(f"the patch does not apply: {err}") from None
    if not isinstance(patched, dict):
        raise _CallFailedError("the patched object is not an object")
    return patched


async def _consult(
    hook: Hook, call: Call, new: Obj | None, old: Obj | None, warnings: list[str]
) -> Mapping[str, Any] | None:
    """The hook's answer; None when the call failed and ``failurePolicy`` is ``Ignore``."""
    try:
        answer = await call_hook(hook, _review(hook, call, new, old))
    except _CallFailedError as err:
        if hook.config.get("failurePolicy", "Fail") == "Ignore":
            return None
        raise ApiError(
            500,
            f'Internal error occurred: failed calling webhook "{hook.name}": '
            f"failed to call webhook: {err}",
            reason="InternalError",
        ) from None
    warnings.extend(str(w) for w in _list(answer.get("warnings")))
    if not answer["allowed"]:
        raise _denied(hook, answer)
    return answer


async def review_write(
    objects: Objects,
    hooks: Sequence[Hook],
    *,
    call: Call,
    new: Obj | None,
    old: Obj | None,
    warnings: list[str],
) -> Obj | None:
    """Run the matching hooks; returns the object as mutated (``new`` when unchanged)."""
    hooks = [h for h in hooks if selected(objects, h, call, new, old)]
    if new is not None and call.operation != "DELETE":
        for hook in (h for h in hooks if h.mutating):
            answer = await _consult(hook, call, new, old, warnings)
            if answer is not None:
                try:
                    new = _patched(hook, answer, new)
                except _CallFailedError as err:
                    if hook.config.get("failurePolicy", "Fail") != "Ignore":
                        raise ApiError(
                            500, f'failed calling webhook "{hook.name}": {err}'
                        ) from None
    validating = [h for h in hooks if not h.mutating]
    if validating:
        await asyncio.gather(*(_consult(h, call, new, old, warnings) for h in validating))
    return new


def _options(request: web.Request, *, dry_run: bool) -> WriteOptions:
    flag = request.query.get("dryRun", "")
    if flag not in ("", "All"):
        raise bad_request(f'Invalid dry run value: "{flag}"')
    return WriteOptions(
        dry_run=dry_run or flag == "All",
        field_manager=request.query.get("fieldManager", ""),
        strict=request.query.get("fieldValidation", "") == "Strict",
        force=query_flag(request, "force"),
    )


def _response(rtype: ResourceType, obj: Obj, status: int, warnings: list[str]) -> web.Response:
    response = web.Response(
        body=orjson.dumps(rtype.present(obj)), status=status, content_type="application/json"
    )
    for text in dict.fromkeys(warnings):
        escaped = text.replace("\\", "\\\\").replace('"', '\\"')
        response.headers.add("Warning", f'299 - "{escaped}"')
    return response


def _fresh(candidate: Obj) -> Obj:
    """A dry-run create result as a create body again (server-set fields dropped)."""
    body = copy.deepcopy(candidate)
    meta = body.setdefault("metadata", {})
    for key in ("uid", "creationTimestamp", "resourceVersion", "generation"):
        meta.pop(key, None)
    return body


def _kept(options: WriteOptions) -> WriteOptions:
    """Options storing a mutated object with the managedFields its dry run computed.

    kube-apiserver records field ownership before mutating admission: what a webhook added is
    owned by nobody, so the applier's next apply (which omits it) does not remove it.
    """
    return WriteOptions(strict=options.strict, force=options.force, warnings=options.warnings)


async def admitted(
    objects: Objects,
    request: web.Request,
    target: Target,
    verb: str,
    *,
    user: str,
    groups: Sequence[str] = (),
) -> web.Response | None:
    """Carry out a write through the matching webhooks; None when no webhook matches.

    The single entry point the request handlers call for create, update, patch and delete.
    """
    rtype = target.rtype
    namespace = target.namespace or ""
    operation = OPERATIONS.get(verb)
    if operation is None:
        return None
    existing = objects.store.get(rtype.storage, namespace if rtype.namespaced else "", target.name)
    if verb == "patch" and existing is None:
        operation = "CREATE"  # server-side apply creating the object
    call = Call(
        operation,
        rtype,
        namespace,
        target.name,
        target.subresource,
        user,
        tuple(groups),
        dry_run=request.query.get("dryRun") == "All",
    )
    hooks = hooks_for(objects, call)
    if not hooks:
        return None
    body = await read_body(request)
    dry = _options(request, dry_run=True)
    old = rtype.present(existing) if existing is not None else None
    candidate: Obj | None
    if verb == "create":
        candidate = objects.create(rtype, namespace, body, options=dry)
    elif verb == "update":
        candidate = objects.update(
            rtype, namespace, target.name, body, subresource=target.subresource, options=dry
        )
    elif verb == "patch":
        candidate = _patch(objects, request, target, body, dry)
    else:
        if existing is None:
            return None  # the delete's own 404 is the answer
        candidate = None
    if candidate is not None:
        candidate = rtype.present(candidate)
        candidate.setdefault("metadata", {}).setdefault("namespace", namespace)
    warnings = list(dry.warnings)
    final = await review_write(objects, hooks, call=call, new=candidate, old=old, warnings=warnings)
    now = objects.store.get(rtype.storage, namespace if rtype.namespaced else "", target.name)
    if (now or {}).get("metadata", {}).get("resourceVersion") != (existing or {}).get(
        "metadata", {}
    ).get("resourceVersion"):
        raise conflict(rtype.plural, rtype.group, target.name, STALE)
    real = _options(request, dry_run=False)
    mutated = final != candidate
    if verb == "delete":
        options = body if isinstance(body, dict) else None
        gone = objects.delete(rtype, namespace, target.name, options, dry_run=call.dry_run)
        still = objects.store.get(rtype.storage, namespace, target.name) is not None
        return _response(rtype, gone, 202 if still else 200, warnings)
    assert final is not None  # noqa: S101 - only a delete has no new object
    if call.dry_run:
        return _response(rtype, final, 201 if existing is None else 200, warnings)
    if existing is None:  # a create, or a server-side apply creating the object
        if verb == "create" or mutated:
            if mutated:
                stored = objects.create(rtype, namespace, _fresh(final), options=_kept(real))
            else:
                stored = objects.create(rtype, namespace, body, options=real)
        else:
            stored = _patch(objects, request, target, body, real)
        return _response(rtype, stored, 201, [*warnings, *real.warnings])
    if mutated:
        final["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"]
        stored = objects.update(
            rtype,
            namespace,
            target.name,
            final,
            subresource=target.subresource,
            options=_kept(real),
        )
    elif verb == "update":
        stored = objects.update(
            rtype, namespace, target.name, body, subresource=target.subresource, options=real
        )
    else:
        stored = _patch(objects, request, target, body, real)
    return _response(rtype, stored, 200, [*warnings, *real.warnings])


def _patch(
    objects: Objects, request: web.Request, target: Target, body: Any, options: WriteOptions
) -> Obj:
    return objects.patch(
        target.rtype,
        target.namespace or "",
        target.name,
        patch_type=patch_type(request, target.rtype),
        body=body,
        subresource=target.subresource,
        options=options,
    )
