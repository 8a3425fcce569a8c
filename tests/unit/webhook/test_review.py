from __future__ import annotations

import base64

import orjson
import pytest
from lbc.webhook.review import (
    MalformedReviewError,
    allow,
    deny,
    parse_review,
    pointer,
    review_response,
)


def _review(**request: object) -> dict[str, object]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {"uid": "u-1", **request},
    }


def test_request_fields_are_read_from_an_admission_review() -> None:
    request = parse_review(
        _review(
            operation="UPDATE",
            resource={"group": "elbv2.k8s.aws", "version": "v1beta1", "resource": "tgbs"},
            namespace="apps",
            name="web",
            object={"spec": {}},
            oldObject={"spec": {"a": 1}},
            dryRun=True,
        )
    )
    assert (request.uid, request.operation, request.namespace, request.name) == (
        "u-1",
        "UPDATE",
        "apps",
        "web",
    )
    assert request.group == "elbv2.k8s.aws"
    assert request.old == {"spec": {"a": 1}}
    assert request.dry_run


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1beta1", "request": {}},
        {"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", "request": {}},
        [],
    ],
)
def test_anything_but_a_v1_review_with_a_uid_is_malformed(body: object) -> None:
    with pytest.raises(MalformedReviewError):
        parse_review(body)


def test_a_mutation_is_answered_as_a_base64_json_patch_echoing_the_uid() -> None:
    ops = [{"op": "add", "path": "/spec/targetType", "value": "ip"}]
    doc = review_response("u-7", allow(ops, warnings=["careful"]))
    response = doc["response"]
    assert response["uid"] == "u-7"
    assert response["allowed"] is True
    assert response["patchType"] == "JSONPatch"
    assert orjson.loads(base64.b64decode(response["patch"])) == ops
    assert response["warnings"] == ["careful"]


def test_a_denial_carries_its_code_and_message_and_no_patch() -> None:
    response = review_response("u", deny("spec.targetType: required", 403))["response"]
    assert response["allowed"] is False
    assert response["status"]["code"] == 403
    assert response["status"]["message"] == "spec.targetType: required"
    assert "patch" not in response


def test_pointer_escapes_slashes_and_tildes() -> None:
    assert pointer("spec", "a/b~c") == "/spec/a~1b~0c"
