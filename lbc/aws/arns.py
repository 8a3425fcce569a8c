"""The account and region an ARN names (``arn:<partition>:<service>:<region>:<account>:...``).

A target group's ARN says where it lives; that decides which account's rate limits and health
cache its calls use, and in which region an assumed role's clients are opened. A string that is
not an ARN names no account and no region (empty strings): its calls fall back to the process's
own limits and region, and ELBv2 answers the malformed ARN as it should.
"""

from __future__ import annotations

from typing import Final

_FIELDS: Final = 6


def _parts(arn: str) -> list[str]:
    parts = arn.split(":", 5)
    return parts if len(parts) == _FIELDS and parts[0] == "arn" else []


def account_of(arn: str) -> str:
    """The twelve-digit account of ``arn``, or ``""``."""
    parts = _parts(arn)
    account = parts[4] if parts else ""
    return account if len(account) == 12 and account.isdigit() else ""


def region_of(arn: str) -> str:
    """The region of ``arn`` (empty for global services and non-ARNs)."""
    parts = _parts(arn)
    return parts[3] if parts else ""
