"""The `avesa aws` sub-app: both AWS command modules register their commands on this one object."""

from __future__ import annotations

import typer

aws_app = typer.Typer(name="aws", help="AVESA on AWS: synth and deploy the stacks, run the pipeline there.",
                      no_args_is_help=True)
