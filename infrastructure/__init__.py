"""AVESA's AWS CDK app (Python): the data pipeline, monitoring and backfill stacks of one environment."""
