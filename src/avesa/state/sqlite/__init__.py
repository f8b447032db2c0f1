"""SQLite back end of the state store (the embedded default): one module per job of the contract
(state/base.py) over one shared connection (`job.SqliteJob`), composed in `store.SqliteStateStore`."""
