"""Assembly of the stack controllers on the process's AWS adapter (one inventory per process)."""

from __future__ import annotations

from lbc.aws.adapter import AwsAdapter
from lbc.aws.stack_inventory import StackInventory
from lbc.aws.stack_writes import StackWriter
from lbc.control.ingress_controller import IngressController
from lbc.control.stack_bindings import StackBindings
from lbc.control.stackdeploy import StackDeployer
from lbc.kube.client import KubeClient
from lbc.kube.events import EventRecorder
from lbc.settings import Settings


def ingress_controller(settings: Settings, kube: KubeClient, aws: AwsAdapter) -> IngressController:
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

    return IngressController(settings, kube, deployer_for, events)
