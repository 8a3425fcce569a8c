"""AWS adapters: the only code that speaks ELBv2 and EC2.

Open once per process with :func:`lbc.aws.adapter.open_aws` and hand
``adapter.target_groups`` (a :class:`lbc.aws.elbv2.TargetGroups`) to the reconciler, which sees
it through its own port (:class:`lbc.control.bindings.TargetGroupPort`).

Modules: ``adapter`` (assembly from settings), ``session`` (aiobotocore clients, retries,
timeouts), ``calls`` (one guarded call: rate limit, deadline, metrics, classification),
``ratelimit`` (token buckets), ``errors`` (botocore failures → lbc error kinds), ``metrics``,
``elbv2`` (target groups: health, batches, zones), ``health`` (the health cache's data),
``vpc`` (VPC CIDRs), ``keyedlock`` (a lock per target group), ``roles`` (assumed-role
credentials per role and external id, refreshed by botocore), ``arns`` (an ARN's account and
region: which rate limits, health views and regional clients a call uses).

A binding that names ``spec.iamRoleArnToAssume`` reaches its group through
``adapter.target_groups.as_role(role)``: the same port, signed with that role's credentials.
"""
