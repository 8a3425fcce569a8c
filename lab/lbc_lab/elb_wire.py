"""The wire format of the three target operations, served without moto's generic serializer.

moto parses and renders every query-protocol call through a generic, model-driven serializer;
for a 1,000-target DescribeTargetHealth that alone costs about 100 ms of server time, the largest
part of the lab's answer. The target operations are the lab's hot path (every reconcile issues
them), so this module parses their form parameters and renders their XML directly. State and
validation stay in :class:`~lbc_lab.elb_backend.LabElbv2Backend`; only the encoding is here.

Response and error shapes are ELBv2's (namespace ``2015-12-01``): botocore parses them with the
service model, so a mistake here shows up as a parse error in every test.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

from moto.elbv2.exceptions import ELBClientError

from lbc_lab.elb_backend import LabElbv2Backend

NAMESPACE = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"
TARGET_OPERATIONS = ("RegisterTargets", "DeregisterTargets", "DescribeTargetHealth")

_FIELDS = {
    "Id": "Id",
    "Port": "Port",
    "AvailabilityZone": "AvailabilityZone",
    "QuicServerId": "QuicServerId",
}


def targets_from(params: dict[str, list[str]]) -> list[dict[str, Any]]:
    """``Targets.member.N.{Id,Port,AvailabilityZone}`` → ``[{"Id": ..., "Port": int}, ...]``."""
    members: dict[int, dict[str, Any]] = {}
    for key, values in params.items():
        parts = key.split(".")
        if len(parts) != 4 or parts[0] != "Targets" or parts[1] != "member":
            continue
        if not parts[2].isdigit() or parts[3] not in _FIELDS:
            continue
        value: Any = values[0]
        if parts[3] == "Port":
            try:
                value = int(value)
            except ValueError:
                raise ELBClientError("ValidationError", f"Port '{value}' is not a number") from None
        members.setdefault(int(parts[2]), {})[parts[3]] = value
    return [members[n] for n in sorted(members)]


def serve(
    backend: LabElbv2Backend, operation: str, params: dict[str, list[str]]
) -> tuple[int, bytes]:
    """Run ``operation`` on ``backend``; the HTTP status and XML body of the answer."""
    handler = _HANDLERS[operation]
    arn = (params.get("TargetGroupArn") or [""])[0]
    try:
        result = handler(backend, arn, targets_from(params))
    except ELBClientError as err:
        return 400, error_xml(err.code, err.message, status=400)
    body = (
        f'<{operation}Response xmlns="{NAMESPACE}"><{operation}Result>{result}'
        f"</{operation}Result><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId>"
        f"</ResponseMetadata></{operation}Response>"
    )
    return 200, body.encode()


def error_xml(code: str, message: str, *, status: int) -> bytes:
    """ELBv2's query-protocol error document (``Sender`` for 4xx, ``Receiver`` for 5xx)."""
    kind = "Receiver" if status >= 500 else "Sender"
    return (
        f'<ErrorResponse xmlns="{NAMESPACE}"><Error><Type>{kind}</Type>'
        f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    ).encode()


def _register(backend: LabElbv2Backend, arn: str, targets: list[dict[str, Any]]) -> str:
    backend.register_targets(arn, targets)
    return ""


def _deregister(backend: LabElbv2Backend, arn: str, targets: list[dict[str, Any]]) -> str:
    backend.deregister_targets(arn, targets)
    return ""


def _describe(backend: LabElbv2Backend, arn: str, targets: list[dict[str, Any]]) -> str:
    parts = ["<TargetHealthDescriptions>"]
    for d in backend.describe_target_health(arn, targets):
        target, health = d["Target"], d["TargetHealth"]
        zone = target.get("AvailabilityZone")
        parts.append(
            "<member>"
            f"<HealthCheckPort>{escape(d['HealthCheckPort'])}</HealthCheckPort>"
            f"<Target><Id>{escape(target['Id'])}</Id><Port>{target['Port']}</Port>"
            + (f"<AvailabilityZone>{escape(zone)}</AvailabilityZone>" if zone else "")
            + (
                f"<QuicServerId>{escape(target['QuicServerId'])}</QuicServerId>"
                if target.get("QuicServerId")
                else ""
            )
            + f"</Target><TargetHealth><State>{health['State']}</State>"
            + (
                f"<Reason>{health['Reason']}</Reason>"
                f"<Description>{escape(health['Description'])}</Description>"
                if "Reason" in health
                else ""
            )
            + "</TargetHealth></member>"
        )
    parts.append("</TargetHealthDescriptions>")
    return "".join(parts)


_HANDLERS: dict[str, Callable[[LabElbv2Backend, str, list[dict[str, Any]]], str]] = {
    "RegisterTargets": _register,
    "DeregisterTargets": _deregister,
    "DescribeTargetHealth": _describe,
}
