"""Assembly of the stack controllers on the process's AWS adapter (one inventory per process)."""

from __future__ import annotations

from lbc.aws.adapter import AwsAdapter
from lbc.aws.stack_inventory import StackInventory
from lbc.aws.stack_writes import StackWriter
from lbc.control.ingress_controller import IngressController
from lbc.control.service_controller import ServiceController
from lbc.control.stack_bindings import StackBindings
from lbc.control.stackdeploy import StackDeployer
from lbc.kube.client import KubeClient
from lbc.kube.events import EventRecorder
from lbc.settings import Settings


def stack_controllers(
    settings: Settings, kube: KubeClient, aws: AwsAdapter
) -> list[IngressController | ServiceController]:
    """The controllers ``LBC_STACKS`` names, sharing one inventory (one account listing)."""
    vpc = settings.vpc_id or ""
    inventory = StackInventory(aws.clients.elbv2, aws.clients.ec2, aws.calls, vpc_id=vpc)
    writer = StackWriter(aws.clients.elbv2, aws.clients.ec2, aws.calls, inventory)
    events = EventRecorder(kube, component="lbc", host=settings.cluster_name or "")

    def deployer_for(bindings: StackBindings) -> StackDeployer:
        return StackDeployer(
            inventory,
            writer,
            bindings,
            vpc_id=vpc,
            external_tags=settings.external_managed_tag_keys,
        )

    built: list[IngressController | ServiceController] = []
    if "ingress" in settings.stack_kinds:
        built.append(IngressController(settings, kube, deployer_for, events))
    if "service" in settings.stack_kinds:
        built.append(ServiceController(settings, kube, deployer_for, events))
    return built
