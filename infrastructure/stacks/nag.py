"""cdk-nag's AWS Solutions checks as a validation plugin: synth fails on any finding not
acknowledged; every acknowledgement is made where the resource is defined, with its reason."""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct


def add_checks(app: App) -> None:
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(construct: IConstruct, finding: str, reason: str) -> None:
    """Accept one cdk-nag finding (`AwsSolutions-IAM5[Resource::…]`) on `construct`, saying why."""
    Validations.of(construct).acknowledge(Acknowledgment(id=finding, reason=reason))
