"""How an executor reports progress; the CLI draws it with rich, tests record it."""

from __future__ import annotations

from typing import Protocol

from avesa.domain.work import TablePlan, TableRef, TableResult


class RunObserver(Protocol):
    def table_started(self, ref: TableRef) -> None: ...
    def table_planned(self, plan: TablePlan) -> None: ...
    def records_landed(self, ref: TableRef, count: int) -> None: ...
    def chunk_finished(self, ref: TableRef) -> None: ...
    def chunks_added(self, ref: TableRef, count: int) -> None: ...
    def table_merging(self, ref: TableRef) -> None: ...  # every chunk landed: the merge into canonical begins
    def table_finished(self, result: TableResult) -> None: ...


class NullObserver:
    def table_started(self, ref: TableRef) -> None:
        pass

    def table_planned(self, plan: TablePlan) -> None:
        pass

    def records_landed(self, ref: TableRef, count: int) -> None:
        pass

    def chunk_finished(self, ref: TableRef) -> None:
        pass

    def chunks_added(self, ref: TableRef, count: int) -> None:
        pass

    def table_merging(self, ref: TableRef) -> None:
        pass

    def table_finished(self, result: TableResult) -> None:
        pass
