"""Errors as data: every failure lbc handles is one of three kinds, decided where it is raised.

The worker maps the kind to what happens next (controller-runtime's outcome labels):

- ``TransientError``: retry with per-binding exponential backoff (throttling, 5xx, timeouts,
  a dropped connection).
- ``TerminalError``: retrying cannot help until an input changes (malformed binding, corrupt
  ledger, unknown target group). The binding gets a Warning event and a False ``Ready``
  condition with ``reason``; the key is not requeued with backoff: a watch event brings it
  back, or ``requeue_after`` when the raiser sets it (the next drift verification).
- ``ConflictError``: an optimistic-concurrency write lost (HTTP 409): requeue at once, re-read.

``reason`` is a CamelCase word for events and conditions (``TargetGroupNotFound``); the message
is for humans.
"""

from __future__ import annotations


class LbcError(Exception):
    """Base of every classified lbc error.

    ``requeue_after`` (seconds, positive) is the raiser's word on when to look again, so that
    only the worker writes to the queue: the worker honours it for a ``TerminalError`` (as
    ``Result.requeue_after`` for a success); a retryable error's next attempt is the backoff's
    to decide. ``None`` on a terminal error waits for a watch event.
    """

    reason: str = "Error"

    def __init__(
        self, message: str, *, reason: str | None = None, requeue_after: float | None = None
    ) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason
        if requeue_after is not None and requeue_after <= 0:
            raise ValueError("requeue_after must be positive")
        self.requeue_after = requeue_after

    @property
    def message(self) -> str:
        return str(self)


class TransientError(LbcError):
    """Worth retrying after a backoff."""

    reason = "Transient"


class TerminalError(LbcError):
    """Not worth retrying until an input changes (``requeue_after``: look again anyway then)."""

    reason = "Terminal"


class AccessError(TransientError):
    """AWS refused who lbc is: a role it cannot assume, or one lacking a permission.

    ``reason`` is ``AssumeRoleFailed`` or ``AccessDenied``. The fix is made in IAM, outside
    Kubernetes, so no watch event would bring the binding back: unlike other refusals this is
    retried with backoff. Like every failure it deregisters nothing.
    """

    reason = "AccessDenied"


class ConflictError(TransientError):
    """A write lost an optimistic-concurrency race; re-read and retry at once."""

    reason = "Conflict"


class NotFoundError(LbcError):
    """The object (Kubernetes or AWS) does not exist."""

    reason = "NotFound"


class TargetGroupNotFoundError(NotFoundError):
    """The ELBv2 target group does not exist (deleted out of band, or a wrong ARN or name).

    Terminal for a reconcile (nothing to register into until the binding or the group changes);
    tolerated by a binding's deletion, which has nothing left to clean up in AWS.
    """

    reason = "TargetGroupNotFound"


class ThrottledError(TransientError):
    """AWS kept refusing a call for its rate after the SDK's own retries; back off and retry."""

    reason = "Throttled"
