"""Assembly of the stack controllers on the process's AWS adapter (one inventory per process):
each controller is given the reconcile flow for its kind of object (``flow_for``), its bindings
and deployer on that inventory."""

from __future__ import annotations

from collections.abc import Sequence

from lbc.aws.adapter import AwsAdapter
from lbc.aws.stack_inventory import StackInventory
from lbc.aws.stack_writes import StackWriter
from lbc.control.ingress_controller import IngressController
from lbc.control.service_controller import ServiceController
from lbc.control.stack_bindings import StackBindings
from lbc.control.stack_reconcile import ObjectKind, StackReconcile
from lbc.control.stackdeploy import StackDeployer
from lbc.core.stack.binding_changes import ObservedBinding
from lbc.core.stack.inputs import StackConfig
from lbc.core.stack.model import Scheme, TargetType, tags_of
from lbc.kube.client import KubeClient
from lbc.kube.events import EventRecorder
from lbc.kube.informer import Store
from lbc.settings import Settings


def stack_config(settings: Settings) -> StackConfig:
    """The builders' config from the daemon's settings (checked there: stacks need both)."""
    return StackConfig(
        cluster_name=settings.cluster_name or "",
        vpc_id=settings.vpc_id or "",
        ingress_class=settings.ingress_class,
        load_balancer_class=settings.load_balancer_class,
        default_scheme=Scheme(settings.default_scheme),
        default_target_type=TargetType(settings.default_target_type),
        default_tags=tags_of(settings.default_tag_map),
        external_managed_tags=tuple(sorted(settings.external_managed_tag_keys)),
    )


def stack_controllers(
    settings: Settings, kube: KubeClient, aws: AwsAdapter
) -> list[IngressController | ServiceController]:
    """The controllers ``LBC_STACKS`` names, sharing one inventory (one account listing)."""
    vpc = settings.vpc_id or ""
    inventory = StackInventory(aws.clients.elbv2, aws.clients.ec2, aws.calls, vpc_id=vpc)
    writer = StackWriter(aws.clients.elbv2, aws.clients.ec2, aws.calls, inventory)
    events = EventRecorder(kube, component="lbc", host=settings.cluster_name or "")
    config = stack_config(settings)

    def flow_for(kind: ObjectKind, stores: Sequence[Store[ObservedBinding]]) -> StackReconcile:
        bindings = StackBindings(kube, stores)
        deployer = StackDeployer(
            inventory,
            writer,
            bindings,
            vpc_id=vpc,
            external_tags=settings.external_managed_tag_keys,
        )
        return StackReconcile(
            kind=kind, kube=kube, deployer=deployer, bindings=bindings, events=events, config=config
        )

    built: list[IngressController | ServiceController] = []
    if "ingress" in settings.stack_kinds:
        built.append(IngressController(settings, kube, flow_for))
    if "service" in settings.stack_kinds:
        built.append(ServiceController(settings, kube, flow_for))
    return built
