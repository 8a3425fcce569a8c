"""The HTTPS admission server: verified TLS, AdmissionReview answers, certificate rotation."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import aiohttp
import anyio
import pytest
from lbc.webhook.server import MUTATE_BINDING, VALIDATE_BINDING

from lbc_lab.scenario import eventually
from tests.integration.webhook.conftest import Running
from tests.integration.webhook.pki import serial_of
from tests.unit.webhook.fakes import IP_ARN, tgb

pytestmark = pytest.mark.timeout(30)


def _review(obj: dict[str, Any], operation: str = "CREATE") -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "review-1",
            "operation": operation,
            "resource": {
                "group": "elbv2.k8s.aws",
                "version": "v1beta1",
                "resource": "targetgroupbindings",
            },
            "namespace": obj["metadata"]["namespace"],
            "name": obj["metadata"]["name"],
            "object": obj,
        },
    }


async def _post(webhook: Running, path: str, body: Any) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
        session.post(webhook.url + path, json=body, ssl=webhook.client_context()) as response,
    ):
        if response.content_type == "application/json":
            return response.status, await response.json()
        return response.status, await response.text()


async def _served_serial(webhook: Running) -> int:
    """The serial of the certificate a brand-new connection is shown."""
    context = webhook.client_context()
    _reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", webhook.server.port, ssl=context), 5
    )
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        return serial_of(der)
    finally:
        writer.close()


async def test_a_review_is_answered_over_tls_verified_by_the_ca(webhook: Running) -> None:
    status, doc = await _post(
        webhook, MUTATE_BINDING, _review(tgb("web", targetGroupName="web-ip"))
    )
    assert status == 200
    assert doc["kind"] == "AdmissionReview"
    assert doc["response"]["uid"] == "review-1"
    assert doc["response"]["allowed"] is True
    assert doc["response"]["patchType"] == "JSONPatch"


async def test_a_denial_names_the_field(webhook: Running) -> None:
    obj = tgb("web", targetGroupARN=IP_ARN)
    status, doc = await _post(webhook, VALIDATE_BINDING, _review(obj))
    assert status == 200
    assert doc["response"]["allowed"] is False
    assert doc["response"]["status"]["message"].startswith("spec.targetType:")


async def test_a_body_that_is_not_a_review_gets_400(webhook: Running) -> None:
    status, text = await _post(webhook, VALIDATE_BINDING, {"kind": "Pod"})
    assert status == 400
    assert "AdmissionReview" in text


async def test_a_client_without_the_ca_is_refused_the_handshake(webhook: Running) -> None:
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        async with (
            aiohttp.ClientSession() as session,
            session.post(webhook.url + VALIDATE_BINDING, json={}, ssl=ssl.create_default_context()),
        ):
            pass


async def test_a_rotated_certificate_is_served_to_new_connections_without_restart(
    webhook: Running,
) -> None:
    first = await _served_serial(webhook)
    rotated = webhook.authority.write_serving(webhook.cert_dir)
    assert rotated != first

    async def served_new() -> bool:
        return await _served_serial(webhook) == rotated

    await eventually(served_new, timeout=5, what="the rotated certificate served")
    assert webhook.certificate.reloads >= 1
    status, _doc = await _post(webhook, VALIDATE_BINDING, _review(tgb("w", targetGroupARN=IP_ARN)))
    assert status == 200


async def test_a_half_written_rotation_keeps_the_working_certificate(webhook: Running) -> None:
    first = await _served_serial(webhook)
    _cert, key, _serial = webhook.authority.issue()
    (webhook.cert_dir / "tls.key").write_bytes(key)  # the new key, the old certificate
    assert webhook.certificate.check() is False
    assert await _served_serial(webhook) == first
    assert webhook.certificate.reloads == 0


async def test_a_slow_target_group_lookup_is_denied_within_the_budget(webhook: Running) -> None:
    abandoned: list[str] = []

    async def stuck(arn: str) -> Any:
        try:
            await anyio.sleep_forever()
        finally:
            abandoned.append(arn)

    webhook.groups.describe_target_group = stuck  # type: ignore[method-assign]
    status, doc = await _post(webhook, MUTATE_BINDING, _review(tgb("w", targetGroupARN=IP_ARN)))
    assert status == 200
    assert doc["response"]["allowed"] is False
    assert doc["response"]["status"]["code"] == 500
    assert "could not decide within 0.5s" in doc["response"]["status"]["message"]
    # The lookup never answers: the budget cancelled it, rather than the caller's deadline.
    assert abandoned == [IP_ARN]
