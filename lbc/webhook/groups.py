"""Target group look-ups for the binding webhooks, with AWS failures turned into verdicts.

A missing group is the user's mistake (400, naming the field that pointed at it); any other
failure (throttling, network, credentials) is the webhook's: 500 with a "try again" message, so
the user does not go hunting for a typo that is not there.
"""

from __future__ import annotations

from dataclasses import dataclass

from lbc.aws.elbv2 import TargetGroupInfo
from lbc.core.errors import LbcError, NotFoundError
from lbc.webhook.caches import GroupLookup
from lbc.webhook.review import Verdict, deny


@dataclass(frozen=True, slots=True)
class Lookup:
    """A look-up's outcome: the group, or the verdict to answer with."""

    info: TargetGroupInfo | None
    denial: Verdict | None


async def group_by_arn(groups: GroupLookup, arn: str) -> Lookup:
    try:
        return Lookup(await groups.describe_target_group(arn), None)
    except NotFoundError:
        return Lookup(None, deny(f"spec.targetGroupARN: target group {arn} does not exist"))
    except LbcError as err:
        return Lookup(None, _unavailable(err))


async def group_by_name(groups: GroupLookup, name: str) -> Lookup:
    """Resolve a name: exactly one target group of that name, or a denial."""
    try:
        return Lookup(await groups.describe_target_group_by_name(name), None)
    except NotFoundError as err:
        return Lookup(None, deny(f"spec.targetGroupName: {err}"))
    except LbcError as err:
        return Lookup(None, _unavailable(err))


def _unavailable(err: LbcError) -> Verdict:
    return deny(f"could not describe the target group ({err.reason}: {err}); try again", 500)
