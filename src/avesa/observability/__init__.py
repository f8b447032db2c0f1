"""Logs and metrics: what a run did, for operators and dashboards (never credentials)."""
