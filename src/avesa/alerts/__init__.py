"""Alerts of `avesa serve`: rules evaluated from the ledger (rules.py), per-tenant policies
(config.py), one message per incident and one when it clears (incidents.py), delivered to a
webhook or by email (delivery.py). docs/operating.md, "Alerts"."""
