"""The read-only web dashboard: `avesa dashboard` serves it alone, `avesa serve` mounts it at `/`.

It reads the registry and the run ledger through the state store's interface and the run log,
never a back end's own tables, so it shows the same on SQLite and on DynamoDB."""
