"""Credentials of the roles bindings name (``spec.iamRoleArnToAssume``), from STS AssumeRole.

A binding whose target group lives in another AWS account names a role there; every ELBv2 call
about its group, and the EC2 look-up of the group's VPC, is made with that role's credentials.
What this module guarantees:

- **One credential source per (role, external id).** :meth:`RoleCredentials.credentials` hands
  out the same object for the same :class:`Role`, so every client of that role shares one set of
  temporary credentials and one STS call refreshes them for all. Two bindings naming the same
  role with different external ids get different credentials: a wrong external id on one binding
  never borrows the credentials another binding obtained.
- **Refreshed by botocore, not by hand.** The object is aiobotocore's
  ``AioDeferredRefreshableCredentials``: nothing is fetched until the first signed request;
  from then on botocore calls the refresh function again when the credentials are within its
  advisory window of expiry (15 minutes, keeping the old ones if that refresh fails) and must
  succeed within its mandatory window (10 minutes). Concurrent requests share one refresh.
- **Failures are classified once.** The refresh function calls STS through
  :class:`~lbc.aws.calls.AwsCalls` (rate limit, deadline, metrics); any failure leaves as an
  :class:`~lbc.core.errors.AccessError` with reason ``AssumeRoleFailed`` and AWS's words, which
  the signed ELBv2 or EC2 request then raises in place of its own answer.

``time_fetcher`` is injected (an aware ``datetime`` source), so tests move the clock past the
refresh windows without waiting.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, final

from aiobotocore.credentials import AioDeferredRefreshableCredentials

from lbc.aws.calls import AwsCalls
from lbc.core.errors import AccessError, LbcError

ASSUME_ROLE_FAILED: Final = "AssumeRoleFailed"
METHOD: Final = "sts-assume-role"
SESSION_DURATION: Final = 3600
"""Seconds an assumed role's credentials last (STS's default; a role chained from IRSA or Pod
Identity credentials may not ask for more)."""

_ROLE_ARN: Final = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}):role/[\w+=,.@/-]+$")
_SESSION_NAME_CHARS: Final = re.compile(r"[^\w+=,.@-]")

AssumeRoleCall = Callable[..., Awaitable[Any]]
"""The STS client's ``assume_role`` (or a test's stand-in)."""


class _RefreshFailureFilter(logging.Filter):
    """Drops botocore's own report of a failed refresh (a plain-text traceback on stderr).

    lbc reports that failure itself, once per reconcile, as structured data: the binding's
    ``AssumeRoleFailed`` event and condition and the worker's ``reconcile_failed`` log line.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Refreshing temporary credentials failed")


_REFRESH_FILTER: Final = _RefreshFailureFilter()


def _quiet_refresh_failures() -> None:
    for name in ("aiobotocore.credentials", "botocore.credentials"):
        found = logging.getLogger(name)
        if _REFRESH_FILTER not in found.filters:
            found.addFilter(_REFRESH_FILTER)


@dataclass(frozen=True, slots=True, order=True)
class Role:
    """A role to assume and the external id to present (empty: none)."""

    arn: str
    external_id: str = ""

    @property
    def account(self) -> str:
        """The role's account (the twelve digits of its ARN; empty when the ARN is malformed)."""
        match = _ROLE_ARN.match(self.arn)
        return match.group(2) if match else ""

    def __str__(self) -> str:
        return self.arn if not self.external_id else f"{self.arn} (with an external id)"


def role_of(role_arn: str, external_id: str = "") -> Role | None:
    """The :class:`Role` a binding names, or None when it names none."""
    return Role(role_arn, external_id) if role_arn else None


def session_name(cluster_name: str | None) -> str:
    """The RoleSessionName lbc presents: ``lbc-<cluster>``, within STS's 2..64 characters.

    It shows in the group account's CloudTrail, which is how that account's owners tell the
    clusters apart.
    """
    cleaned = _SESSION_NAME_CHARS.sub("-", cluster_name or "")
    return f"lbc-{cleaned}"[:64] if cleaned else "lbc"


@final
class RoleCredentials:
    """Deferred refreshable credentials per :class:`Role`, whose refresh calls AssumeRole."""

    def __init__(
        self,
        assume_role: AssumeRoleCall,
        calls: AwsCalls,
        *,
        session_name: str = "lbc",
        duration: int = SESSION_DURATION,
        time_fetcher: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._assume_role = assume_role
        self._calls = calls
        self._session_name = session_name
        self._duration = duration
        self._time = time_fetcher
        self._by_role: dict[Role, AioDeferredRefreshableCredentials] = {}
        _quiet_refresh_failures()

    def credentials(self, role: Role) -> AioDeferredRefreshableCredentials:
        """The role's credentials; the same object every time for the same role."""
        found = self._by_role.get(role)
        if found is None:
            found = AioDeferredRefreshableCredentials(
                refresh_using=lambda: self._fetch(role), method=METHOD, time_fetcher=self._time
            )
            self._by_role[role] = found
        return found

    def __len__(self) -> int:
        return len(self._by_role)

    async def _fetch(self, role: Role) -> Mapping[str, str]:
        """One AssumeRole, in the shape botocore's refreshable credentials take."""
        if not role.account:
            raise AccessError(
                f"AssumeRole {role.arn}: not an IAM role ARN (arn:aws:iam::<account>:role/<name>)",
                reason=ASSUME_ROLE_FAILED,
            )
        params: dict[str, Any] = {
            "RoleArn": role.arn,
            "RoleSessionName": self._session_name,
            "DurationSeconds": self._duration,
        }
        if role.external_id:
            params["ExternalId"] = role.external_id
        try:
            answer = await self._calls.call("sts", "AssumeRole", self._assume_role, **params)
        except LbcError as exc:
            # AWS's words stay in the message (the condition shows them); the kind becomes
            # AccessError so the binding is retried with backoff: the fix is made in IAM, and
            # no Kubernetes event would announce it.
            raise AccessError(f"AssumeRole {role}: {exc}", reason=ASSUME_ROLE_FAILED) from exc
        issued = answer["Credentials"]
        expiration = issued["Expiration"]
        return {
            "access_key": str(issued["AccessKeyId"]),
            "secret_key": str(issued["SecretAccessKey"]),
            "token": str(issued["SessionToken"]),
            "expiry_time": (
                expiration.isoformat() if isinstance(expiration, datetime) else str(expiration)
            ),
        }


__all__ = ["ASSUME_ROLE_FAILED", "Role", "RoleCredentials", "role_of", "session_name"]
