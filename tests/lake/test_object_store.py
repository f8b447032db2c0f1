"""Every reader and writer of an S3 lake takes its settings from the standard AWS environment."""

from __future__ import annotations

from avesa.lake.object_store import filesystem, storage_options

ENV = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
       "AWS_SECRET_ACCESS_KEY": "not-a-real-secret"}


def test_the_environment_configures_an_s3_lake_and_explicit_options_win() -> None:
    options = storage_options("s3://lake/prefix", environ=ENV)
    assert options == {**ENV, "AWS_ALLOW_HTTP": "true"}  # an http endpoint is allowed to be http
    mine = storage_options("s3://lake/prefix", {"aws_region": "us-east-2"}, environ=ENV)
    assert mine["AWS_REGION"] == "us-east-2" and mine["AWS_ENDPOINT_URL"] == ENV["AWS_ENDPOINT_URL"]


def test_the_per_service_endpoint_and_the_default_region_are_the_fallbacks_the_aws_tools_use() -> None:
    env = {"AWS_ENDPOINT_URL": "http://general:1", "AWS_ENDPOINT_URL_S3": "https://s3-only:2",
           "AWS_DEFAULT_REGION": "ap-south-1", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}
    options = storage_options("s3://lake", environ=env)
    assert options["AWS_ENDPOINT_URL"] == "https://s3-only:2" and options["AWS_REGION"] == "ap-south-1"
    assert "AWS_ALLOW_HTTP" not in options


def test_a_local_lake_needs_no_options_and_a_local_path_stays_a_path(tmp_path) -> None:
    assert storage_options(str(tmp_path), environ=ENV) is None
    fs, path = filesystem(str(tmp_path / "raw"))
    assert path == str(tmp_path / "raw") and fs.type_name == "local"


def test_an_s3_filesystem_points_at_the_bucket_and_key(monkeypatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    fs, path = filesystem("s3://lake/acme/raw/connectwise/service_tickets/")
    assert fs.type_name == "s3" and path == "lake/acme/raw/connectwise/service_tickets"
    assert fs.region == "eu-west-1"
