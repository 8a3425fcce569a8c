"""Target group look-ups for the binding webhooks, with AWS failures turned into verdicts.

A missing group is the user's mistake (400, naming the field that pointed at it); so is a role
that cannot be assumed or that may not describe the group (403, naming
``spec.iamRoleArnToAssume`` and AWS's words); any other failure (throttling, network) is the
webhook's: 500 with a "try again" message, so the user does not go hunting for a typo that is
not there.

A binding that names a role is looked up with that role's credentials (:func:`lookup_for`), as
the reconciler will call: a group the role cannot see is refused at admission, not found later.
"""

from __future__ import annotations

from dataclasses import dataclass

from lbc.aws.elbv2 import TargetGroupInfo
from lbc.aws.roles import role_of
from lbc.core.errors import AccessError, LbcError, NotFoundError
from lbc.webhook.caches import GroupLookup
from lbc.webhook.review import Verdict, deny


@dataclass(frozen=True, slots=True)
class Lookup:
    """A look-up's outcome: the group, or the verdict to answer with."""

    info: TargetGroupInfo | None
    denial: Verdict | None


def lookup_for(groups: GroupLookup, role_arn: object, external_id: object) -> GroupLookup:
    """The look-ups of a binding whose spec names ``role_arn`` (empty: lbc's own identity)."""
    role = role_of(
        role_arn if isinstance(role_arn, str) else "",
        external_id if isinstance(external_id, str) else "",
    )
    return groups if role is None else groups.as_role(role)


async def group_by_arn(groups: GroupLookup, arn: str) -> Lookup:
    try:
        return Lookup(await groups.describe_target_group(arn), None)
    except NotFoundError:
        return Lookup(None, deny(f"spec.targetGroupARN: target group {arn} does not exist"))
    except AccessError as err:
        return Lookup(None, _refused(err))
    except LbcError as err:
        return Lookup(None, _unavailable(err))


async def group_by_name(groups: GroupLookup, name: str) -> Lookup:
    """Resolve a name: exactly one target group of that name, or a denial."""
    try:
        return Lookup(await groups.describe_target_group_by_name(name), None)
    except NotFoundError as err:
        return Lookup(None, deny(f"spec.targetGroupName: {err}"))
    except AccessError as err:
        return Lookup(None, _refused(err))
    except LbcError as err:
        return Lookup(None, _unavailable(err))


def _refused(err: AccessError) -> Verdict:
    return deny(f"spec.iamRoleArnToAssume: {err.reason}: {err}", 403)


def _unavailable(err: LbcError) -> Verdict:
    return deny(f"could not describe the target group ({err.reason}: {err}); try again", 500)
