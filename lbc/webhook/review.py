"""AdmissionReview v1: the request the API server sends and the answer a webhook returns.

Only the fields lbc's webhooks read are kept: the request's ``uid`` (echoed back, or the API
server rejects the answer), the operation, the resource, the namespace and name, and the new and
old objects as raw JSON (webhooks read raw JSON so that "unset" stays distinguishable from
"empty", which the immutability rules depend on).

A mutation is answered as an RFC 6902 JSON patch, base64-encoded, with ``patchType:
JSONPatch`` (the only type admission/v1 defines). A denial carries an HTTP-like ``code`` (400
for invalid objects, 403 for refusals, 500 when the webhook could not decide) and a message the
API server hands to the user verbatim, so it names the offending field.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

API_VERSION: Final = "admission.k8s.io/v1"
KIND: Final = "AdmissionReview"


class MalformedReviewError(ValueError):
    """The body is not an AdmissionReview v1 request (answered with HTTP 400)."""


@dataclass(frozen=True, slots=True)
class AdmissionRequest:
    uid: str
    operation: str
    group: str
    version: str
    resource: str
    sub_resource: str
    namespace: str
    name: str
    obj: Mapping[str, Any] | None
    old: Mapping[str, Any] | None
    dry_run: bool


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a webhook decided: allowed (maybe with a patch and warnings) or denied."""

    allowed: bool
    message: str = ""
    code: int = 200
    patch: tuple[Mapping[str, Any], ...] = ()
    warnings: tuple[str, ...] = field(default=())


def allow(patch: Sequence[Mapping[str, Any]] = (), warnings: Sequence[str] = ()) -> Verdict:
    return Verdict(True, patch=tuple(patch), warnings=tuple(warnings))


def deny(message: str, code: int = 400) -> Verdict:
    return Verdict(False, message=message, code=code)


def _obj(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


def _text(doc: Mapping[str, Any], key: str) -> str:
    """A string field of the review, ``""`` when absent."""
    return str(doc.get(key, ""))


def parse_review(body: Any) -> AdmissionRequest:
    """The request inside an AdmissionReview document; raises :class:`MalformedReviewError`."""
    if not isinstance(body, Mapping) or body.get("kind") != KIND:
        raise MalformedReviewError("expected an AdmissionReview")
    if body.get("apiVersion") != API_VERSION:
        raise MalformedReviewError(f"expected apiVersion {API_VERSION}")
    request = body.get("request")
    if not isinstance(request, Mapping) or not isinstance(request.get("uid"), str):
        raise MalformedReviewError("request.uid is required")
    resource = _obj(request.get("resource")) or {}
    return AdmissionRequest(
        uid=request["uid"],
        operation=_text(request, "operation"),
        group=_text(resource, "group"),
        version=_text(resource, "version"),
        resource=_text(resource, "resource"),
        sub_resource=_text(request, "subResource"),
        namespace=_text(request, "namespace"),
        name=_text(request, "name"),
        obj=_obj(request.get("object")),
        old=_obj(request.get("oldObject")),
        dry_run=bool(request.get("dryRun", False)),
    )


def review_response(uid: str, verdict: Verdict) -> dict[str, Any]:
    """The AdmissionReview document answering request ``uid`` with ``verdict``."""
    response: dict[str, Any] = {"uid": uid, "allowed": verdict.allowed}
    if not verdict.allowed:
        response["status"] = {
            "code": verdict.code,
            "message": verdict.message,
            "reason": "Forbidden" if verdict.code == 403 else "BadRequest",
        }
    if verdict.patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(orjson.dumps(list(verdict.patch))).decode()
    if verdict.warnings:
        response["warnings"] = list(verdict.warnings)
    return {"apiVersion": API_VERSION, "kind": KIND, "response": response}


def pointer(*parts: str) -> str:
    """An RFC 6901 JSON pointer (``~`` and ``/`` escaped, as in ``target-health.../name``)."""
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)
