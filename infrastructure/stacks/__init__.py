"""The stacks of one environment: data pipeline, monitoring, backfill."""
