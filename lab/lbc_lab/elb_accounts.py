"""Accounts in the lab: whose credentials signed a request, and AssumeRole as IAM would decide it.

moto keeps every resource per account and maps an access key to the account that issued it (STS
credentials to the assumed role's account). The lab builds on that, so a test can prove that a
binding reaches a target group of another account only through the role it names:

- :func:`account_of` answers a request's account exactly as moto does (``MOTO_ACCOUNT_ID``,
  the ``x-moto-account-id`` header, else the access key of the SigV4 ``Credential``; unknown
  keys, such as the dummy ``lab`` key, belong to moto's default account 123456789012). The
  lab's own target operations use it too, so their state lives in the account that signed.
- :func:`create_user` issues long-term keys of an IAM user in a chosen account: what a cluster's
  daemon runs with to *be* that account.
- :func:`assume_role_refusal` is the check moto leaves out (it lets anyone assume any role, even
  one that does not exist): the role must exist in its account and its trust policy must allow
  the caller (``Principal.AWS`` naming the caller's user or role ARN, its account's ``root``, or
  the bare account id) with every ``StringEquals`` condition on ``sts:ExternalId`` met. Anything
  else is refused as STS refuses: ``AccessDenied``, "User: ... is not authorized to perform:
  sts:AssumeRole on resource: ...", HTTP 403.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.iam.models import iam_backends

PARTITION: Final = "aws"
_ACCESS_KEY = re.compile(r"Credential=([^/]+)/")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/(.+)$")


@dataclass(frozen=True, slots=True)
class Caller:
    """Who signed a request: the account and the principal's ARN (a user or an assumed role)."""

    account: str
    arn: str


def access_key_of(environ: dict[str, Any]) -> str:
    match = _ACCESS_KEY.search(environ.get("HTTP_AUTHORIZATION", ""))
    return match.group(1) if match else ""


def account_of(environ: dict[str, Any]) -> str:
    """The account moto answers this request in."""
    forced = os.environ.get("MOTO_ACCOUNT_ID") or environ.get("HTTP_X_MOTO_ACCOUNT_ID")
    if forced:
        return str(forced)
    return caller_of(access_key_of(environ)).account


def caller_of(access_key: str) -> Caller:
    """The principal behind ``access_key`` (unknown keys: the default account's root)."""
    for account_id, account in list(iam_backends.items()):
        key = account[PARTITION].access_keys.get(access_key)
        if key is None:
            continue
        role_arn = getattr(key, "role_arn", None)
        if role_arn:
            return Caller(account_id, str(role_arn))
        return Caller(account_id, f"arn:aws:iam::{account_id}:user/{key.user_name}")
    return Caller(DEFAULT_ACCOUNT_ID, f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:root")


def create_user(account_id: str, user_name: str) -> dict[str, str]:
    """An IAM user of ``account_id`` with a fresh access key (created when missing)."""
    backend = iam_backends[account_id][PARTITION]
    if user_name not in backend.users:
        backend.create_user(region_name="us-east-1", user_name=user_name)
    key = backend.create_access_key(user_name)
    return {
        "account_id": account_id,
        "arn": f"arn:aws:iam::{account_id}:user/{user_name}",
        "access_key_id": key.access_key_id,
        "secret_access_key": key.secret_access_key,
    }


def assume_role_refusal(caller: Caller, role_arn: str, external_id: str | None) -> str | None:
    """Why STS would refuse ``caller`` the role (None: it may assume it)."""
    refusal = (
        f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
    )
    match = _ROLE_ARN.match(role_arn)
    if match is None:
        return refusal
    backend = iam_backends[match.group(1)][PARTITION]
    role = next((r for r in backend.roles.values() if r.arn == role_arn), None)
    if role is None:
        return refusal
    try:
        policy = json.loads(unquote(role.assume_role_policy_document or "{}"))
    except ValueError:
        return refusal
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    if any(_allows(s, caller, external_id) for s in statements):
        return None
    return refusal


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _allows(statement: dict[str, Any], caller: Caller, external_id: str | None) -> bool:
    if statement.get("Effect") != "Allow":
        return False
    if not {"sts:AssumeRole", "sts:*", "*"} & set(_listed(statement.get("Action"))):
        return False
    principal = statement.get("Principal", {})
    trusted = _listed(principal.get("AWS")) if isinstance(principal, dict) else _listed(principal)
    names = {caller.arn, caller.account, f"arn:aws:iam::{caller.account}:root"}
    if not names & set(trusted):
        return False
    conditions = statement.get("Condition") or {}
    for operator, tests in conditions.items():
        for key, wanted in tests.items():
            if operator != "StringEquals" or key != "sts:ExternalId":
                return False  # a condition the lab cannot evaluate: refuse, never grant
            if external_id is None or external_id not in _listed(wanted):
                return False
    return True
