"""One guarded AWS call: rate limit, overall deadline, metrics, error classification.

Every AWS request lbc makes goes through :meth:`AwsCalls.call`, so that four promises hold
everywhere without each caller remembering them:

1. the call first spends a token of its operation's bucket (client-side rate limit);
2. the call, botocore's retries included, ends within ``timeout`` seconds (botocore's connect
   and read timeouts bound one attempt; this bounds the sum of attempts and their backoff);
3. it is counted once in ``lbc_aws_api_calls_total`` with its outcome and timed;
4. any failure leaves as an :class:`~lbc.core.errors.LbcError` of the right kind, chained to the
   botocore exception for the traceback.

Cancellation passes through untouched (counted as ``cancelled``, never converted). A failure
that is already classified (the :class:`~lbc.core.errors.AccessError` of a role that could not be
assumed while the request was being signed) is counted and passes unchanged.

Rate limits are kept per AWS account, as AWS keeps its quotas: :meth:`AwsCalls.for_account`
gives the calls of one account their own buckets, so one account's throttling never slows the
bindings of another.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, final

import anyio
from botocore.exceptions import BotoCoreError, ClientError

from lbc.aws.errors import classify, outcome
from lbc.aws.metrics import CALL_DURATION, CALLS
from lbc.aws.ratelimit import RateLimits
from lbc.core.errors import LbcError
from lbc.observe.log import get_logger

_log = get_logger("lbc.aws")

DEFAULT_CALL_TIMEOUT = 60.0


@final
class AwsCalls:
    """Runs AWS client methods under the process's rate limits and a per-call deadline."""

    def __init__(
        self,
        limits: RateLimits,
        *,
        timeout: float = DEFAULT_CALL_TIMEOUT,
        account_limits: Callable[[], RateLimits] | None = None,
    ) -> None:
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0, got {timeout!r}")
        self._limits = limits
        self._timeout = timeout
        self._account_limits = account_limits
        self._accounts: dict[str, AwsCalls] = {}

    def for_account(self, account: str) -> AwsCalls:
        """The calls of ``account``: their own rate limits, the same deadline.

        Without ``account_limits`` (tests, tools) or for an empty account, these very calls.
        The table grows by one entry per account lbc talks to, a handful per cluster.
        """
        if self._account_limits is None or not account:
            return self
        found = self._accounts.get(account)
        if found is None:
            found = AwsCalls(self._account_limits(), timeout=self._timeout)
            self._accounts[account] = found
        return found

    async def call(
        self,
        service: str,
        operation: str,
        method: Callable[..., Awaitable[Any]],
        /,
        **params: Any,
    ) -> Mapping[str, Any]:
        """``await method(**params)`` with the four promises of this module."""
        await self._limits.acquire(operation)
        started = time.perf_counter()
        try:
            with anyio.fail_after(self._timeout):
                response: Mapping[str, Any] = await method(**params)
        except (ClientError, BotoCoreError, TimeoutError) as exc:
            error = classify(exc, operation)
            self._record(service, operation, error, started)
            _log.debug(
                "aws_call_failed",
                service=service,
                operation=operation,
                reason=error.reason,
                error=str(error),
            )
            raise error from exc
        except LbcError as error:
            # Classified before it got here (credentials of an assumed role, refused by STS).
            self._record(service, operation, error, started)
            raise
        except BaseException as exc:
            # Not an AWS answer: our cancellation, or a bug. Counted, never converted.
            cancelled = isinstance(exc, anyio.get_cancelled_exc_class())
            CALLS.labels(service, operation, "cancelled" if cancelled else "error").inc()
            raise
        self._record(service, operation, None, started)
        return response

    @staticmethod
    def _record(service: str, operation: str, error: LbcError | None, started: float) -> None:
        CALLS.labels(service, operation, outcome(error)).inc()
        CALL_DURATION.labels(service, operation).observe(time.perf_counter() - started)
