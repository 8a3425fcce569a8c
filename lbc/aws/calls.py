"""One guarded AWS call: rate limit, overall deadline, metrics, error classification.

Every AWS request lbc makes goes through :meth:`AwsCalls.call`, so that four promises hold
everywhere without each caller remembering them:

1. the call first spends a token of its operation's bucket (client-side rate limit);
2. the call, botocore's retries included, ends within ``timeout`` seconds (botocore's connect
   and read timeouts bound one attempt; this bounds the sum of attempts and their backoff);
3. it is counted once in ``lbc_aws_api_calls_total`` with its outcome and timed;
4. any failure leaves as an :class:`~lbc.core.errors.LbcError` of the right kind, chained to the
   botocore exception for the traceback.

Cancellation passes through untouched (counted as ``cancelled``, never converted).
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

    def __init__(self, limits: RateLimits, *, timeout: float = DEFAULT_CALL_TIMEOUT) -> None:
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0, got {timeout!r}")
        self._limits = limits
        self._timeout = timeout

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
