"""Under heavy throttling the adapter still converges, and every throttle answer is counted."""

from __future__ import annotations

import pytest
from lbc.aws.adapter import open_aws
from lbc.core.errors import TransientError
from lbc.core.targets import Target
from lbc.lab.elb_fixtures import ElbLab
from lbc.lab.elb_scenario import create_network, create_target_group

from .conftest import lab_settings, metric_sum


@pytest.mark.parametrize("retry_mode", ["standard", "adaptive"])
async def test_thirty_percent_throttled_calls_still_converge_with_throttles_counted(
    elb_lab: ElbLab, retry_mode: str
) -> None:
    settings = lab_settings(elb_lab, aws_retry_mode=retry_mode, aws_max_attempts=3)
    async with open_aws(settings, call_timeout=30) as aws:
        clients, groups = aws.clients, aws.target_groups
        network = await create_network(clients.ec2)
        tg = await create_target_group(clients.elbv2, network, "web")
        wanted = [Target(ip, 8080) for s in range(3) for ip in network.ips(150, subnet=s)]
        wanted += [Target(f"192.168.7.{n}", 8080) for n in range(1, 51)]  # zone "all"
        elb_lab.control.throttle("*", fraction=0.3)
        mark = elb_lab.control.last_seq()
        throttles_before = metric_sum("lbc_aws_throttles_total")

        # What a reconciler does: look, register what is missing, retry transient failures.
        rounds = failures = 0
        while True:
            rounds += 1
            assert rounds <= 30, "did not converge"
            try:
                listed = await groups.describe(tg.arn)
                missing = [t for t in wanted if t not in listed]
                if not missing:
                    break
                await groups.register(tg.arn, missing)
            except TransientError:
                failures += 1

        answered = elb_lab.control.calls(since=mark)
        throttled = [r for r in answered if r.injected == "throttle"]
        assert throttled, "the lab throttled nothing: the test proves nothing"
        assert len(throttled) / len(answered) > 0.1
        assert metric_sum("lbc_aws_throttles_total") - throttles_before == len(throttled)
        elb_lab.control.clear_faults()
        assert set(await groups.describe(tg.arn, fresh=True)) == set(wanted)
