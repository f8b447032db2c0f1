"""The secret store: credentials by reference (encrypted local file embedded; Secrets Manager on AWS)."""
