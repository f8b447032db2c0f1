"""`avesa state init`: create what the configured back ends need before a first run, for users
without the deployment's stacks — the DynamoDB table of `AVESA_STATE_URL` (or the SQLite file), and,
when asked, the S3 bucket of `AVESA_LAKE_URL`. Each step is safe to repeat: what exists is kept."""

from __future__ import annotations

from typing import TypeVar
from urllib.parse import urlparse

from avesa.domain.aws_errors import aws_access
from avesa.domain.errors import ConfigError
from avesa.pipeline.wiring import DynamoDBState, aws_client, build_state_store, parse_state_url
from avesa.settings import Settings

T = TypeVar("T")


def init_state(settings: Settings) -> str:
    """Create the state store's tables (or file); what was done, in a sentence."""
    where = parse_state_url(settings.state_url, settings.home)
    if isinstance(where, DynamoDBState):
        from avesa.state.dynamodb.layout import ensure_tables

        client = aws_client("dynamodb", where.region, "AVESA_STATE_URL")
        names = _aws_call("AVESA_STATE_URL", "DynamoDB", lambda: ensure_tables(client, where.prefix))
        return f"DynamoDB table {', '.join(names)} ready"
    store = build_state_store(settings)  # opening a SQLite store creates its file and schema
    store.close()
    return f"SQLite state {where.path} ready"


def init_lake_bucket(settings: Settings) -> str:
    """Create the S3 bucket `AVESA_LAKE_URL` names (in the configured region) if it is missing."""
    root = settings.lake_root
    parsed = urlparse(root)
    if parsed.scheme not in ("s3", "s3a"):
        return f"the lake {root} is not on S3: nothing to create (its folders are made as data lands)"
    s3 = aws_client("s3", None, "AVESA_LAKE_URL")
    bucket = parsed.netloc

    def create() -> str:
        from botocore.exceptions import ClientError

        try:
            s3.head_bucket(Bucket=bucket)
            return f"S3 bucket {bucket} already there"
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("404", "NoSuchBucket", "NotFound"):
                raise
        region = s3.meta.region_name
        request: dict = {"Bucket": bucket}
        if region and region != "us-east-1":  # the one region that takes no location constraint
            request["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**request)
        return f"S3 bucket {bucket} created"

    return _aws_call("AVESA_LAKE_URL", "S3", create)


def _aws_call(setting: str, service: str, call):
    """`call()`, with AWS's refusals as one-line configuration errors naming the setting."""
    from botocore.exceptions import ClientError

    try:
        with aws_access(service, setting, f"AWS_ENDPOINT_URL_{service.upper().replace(' ', '_')}"):
            return call()
    except ClientError as exc:
        error = exc.response["Error"]
        reason = error.get("Message") or error["Code"]
        raise ConfigError(f"{service} refused {exc.operation_name} for {setting}: {reason} ({error['Code']}); "
                          "check the identity's permissions and the name") from None
