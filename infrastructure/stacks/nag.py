"""cdk-nag's AWS Solutions checks as a validation plugin: synth fails on any finding not
acknowledged; every acknowledgement is made where the resource is defined, with its reason."""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, App, Stack, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct


def add_checks(app: App) -> None:
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(construct: IConstruct, finding: str, reason: str) -> None:
    """Accept one cdk-nag finding (`AwsSolutions-IAM5[Resource::…]`) on `construct`, saying why."""
    Validations.of(construct).acknowledge(Acknowledgment(id=finding, reason=reason))


def rendered(value: Any) -> str:
    """A resolved CloudFormation value as cdk-nag writes it in a finding's id: references as
    `<Name>`, attributes as `<Id.Attr>`, joins concatenated (`arn:<AWS::Partition>:…`)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(rendered(part) for part in parts)
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return f"<{'.'.join(value['Fn::GetAtt'])}>"
    raise ValueError(f"cannot name {value!r} in a cdk-nag finding")


def acknowledge_wildcard(construct: IConstruct, resource: str, reason: str) -> None:
    """Accept the IAM5 finding of one wildcard resource (an ARN built with `Stack.format_arn`)."""
    acknowledge(construct, f"AwsSolutions-IAM5[Resource::{rendered(Stack.of(construct).resolve(resource))}]", reason)
