"""AVESA: multi-tenant ELT for MSPs."""
