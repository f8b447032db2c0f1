"""`avesa state …`: the state store itself."""

from __future__ import annotations

import typer

from avesa.cli.common import console, ensure_home, friendly_errors, literal
from avesa.pipeline.backend_init import init_lake_bucket, init_state
from avesa.settings import load_settings

state_app = typer.Typer(help="The state store (AVESA_STATE_URL) and the lake it records.", no_args_is_help=True)


@state_app.command("init")
@friendly_errors
def init(
    bucket: bool = typer.Option(False, "--bucket", help="Also create the S3 bucket AVESA_LAKE_URL names."),
) -> None:
    """Create the state store AVESA_STATE_URL names — the DynamoDB table, or the SQLite file — and,
    with --bucket, the lake's S3 bucket. Safe to repeat.

    For running on AWS without the deployment's stacks (which create both):

        AVESA_STATE_URL=dynamodb://avesa AVESA_LAKE_URL=s3://my-lake/avesa avesa state init --bucket
    """
    settings = load_settings()
    ensure_home(settings)
    console.print(literal(init_state(settings)))
    if bucket:
        console.print(literal(init_lake_bucket(settings)))
