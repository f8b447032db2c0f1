"""The SCD2 merge against S3 (moto's server over real HTTP): data files go through pyarrow's
S3FileSystem, the log through deltalake, both configured from the same storage options."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from avesa.lake.delta_tables import canonical_dataset, merge_scd2, read_canonical
from avesa.transform.scd2 import merge_versions
from tests.transform.scd2_support import ASTRAL_KEYS, BUSINESS, EDGE_INSTANTS, TS, canonical, table, v

moto_server = pytest.importorskip("moto.server", reason="moto[server] is not installed")
boto3 = pytest.importorskip("boto3")


@pytest.fixture(scope="module")
def s3_options() -> Iterator[dict[str, str]]:
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                 region_name="us-east-1").create_bucket(Bucket="lake")
    yield {
        "AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true", "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
        "AWS_S3_ALLOW_UNSAFE_RENAME": "true",  # moto has no lock; real deployments configure one
    }
    server.stop()


def test_merge_into_s3(s3_options):
    uri = "s3://lake/acme/canonical/companies"
    first = [v("1", 1, "a"), v("1", 3, "a", by="carol"), v("2", 1, "z")]
    late = [v("1", 2, "b")]
    merge_scd2(uri, table(first), BUSINESS, storage_options=s3_options)
    result = merge_scd2(uri, table(late), BUSINESS, storage_options=s3_options)
    assert result.stats.new_versions == 1 and result.files_removed == 1
    reference, _ = merge_versions(None, table(first + late), BUSINESS)
    assert canonical(read_canonical(uri, storage_options=s3_options)) == canonical(reference)
    again = merge_scd2(uri, table(first + late), BUSINESS, storage_options=s3_options)
    assert again.table_version is None and again.stats.duplicates == 4


def test_edge_keys_and_stamps_on_s3_survive_filtered_reads(s3_options):
    uri = "s3://lake/acme/canonical/edges"
    rows = [{**v(f"{ASTRAL_KEYS[i % len(ASTRAL_KEYS)]}-{i}", 0, "a"), "last_updated": stamp}
            for i, stamp in enumerate(EDGE_INSTANTS)]
    merge_scd2(uri, table(rows), BUSINESS, storage_options=s3_options, target_file_rows=1)
    dataset = canonical_dataset(uri, storage_options=s3_options)
    for row in rows:
        by_key = dataset.to_table(filter=ds.field("source_id") == row["source_id"])
        by_stamp = dataset.to_table(filter=ds.field("last_updated") == pa.scalar(row["last_updated"], TS))
        assert by_key.column("source_id").to_pylist() == [row["source_id"]]
        assert row["source_id"] in by_stamp.column("source_id").to_pylist()
    assert dataset.to_table(filter=ds.field("name") == "a").num_rows == len(rows)  # no file statistics on name
