"""The SOQL parser and binder on their own: syntax, types, null semantics, date literals, index bounds."""

from __future__ import annotations

import calendar
from typing import Any

import pytest

from avesa_sandbox.salesforce import ids
from avesa_sandbox.salesforce.errors import SoqlError
from avesa_sandbox.salesforce.execute import matching_keys
from avesa_sandbox.salesforce.plan import Plan, bind
from avesa_sandbox.salesforce.predicates import date_range, datetime_text
from avesa_sandbox.salesforce.soql import BoolOp, Comparison, InList, Not, parse
from avesa_sandbox.salesforce.timefmt import format_datetime, parse_datetime
from avesa_sandbox.selection import IndexOrder
from avesa_sandbox.store import TableStore

NOW = calendar.timegm((2025, 3, 12, 15, 30, 0))  # a Wednesday


def plan(soql: str) -> Plan:
    return bind(parse(soql), NOW)


def error(soql: str) -> SoqlError:
    with pytest.raises(SoqlError) as caught:
        plan(soql)
    return caught.value


def account(key: int, **fields: Any) -> dict[str, Any]:
    base = {
        "Id": ids.encode("001", key),
        "Name": f"Account {key}",
        "Type": None,
        "AnnualRevenue": None,
        "IsDeleted": False,
        "SystemModstamp": format_datetime(NOW - 86400 * key),
        "CreatedDate": format_datetime(NOW - 86400 * (key + 10)),
        "LastActivityDate": None,
    }
    return {**base, **fields}


@pytest.fixture
def store() -> TableStore:
    records = [
        account(1, Name="Acme Dental", Type="Prospect", AnnualRevenue=100.0),
        account(2, Name="acme logistics", Type="Customer - Direct", AnnualRevenue=250.0, LastActivityDate="2025-03-11"),
        account(3, Name="Beacon Law", Type=None, AnnualRevenue=None),
        account(4, Name="100% Foods_Co", Type="Other", AnnualRevenue=75.5, LastActivityDate="2025-01-02"),
    ]
    table = TableStore("Account", lambda r: parse_datetime(r["SystemModstamp"]), lambda r: ids.key_of(r["Id"]))
    table.load(records)
    return table


def names(store: TableStore, soql: str) -> list[str]:
    return [store.records[key]["Name"] for key in matching_keys(plan(soql), store)]


def test_syntax_tree_of_a_connector_query() -> None:
    query = parse(
        "select Id, Name from Account where (SystemModstamp >= 2024-01-01T00:00:00Z and SystemModstamp < "
        "2024-02-01T00:00:00.000+0000) and not Type in ('A', 'B') order by Id desc nulls last limit 10 offset 5"
    )
    assert [item.name for item in query.items] == ["Id", "Name"]  # type: ignore[union-attr]
    assert query.object_name == "Account" and query.limit == 10 and query.offset == 5
    assert isinstance(query.where, BoolOp) and query.where.op == "AND"
    inner, negated = query.where.operands
    assert isinstance(inner, BoolOp) and all(isinstance(c, Comparison) for c in inner.operands)
    assert isinstance(negated, Not) and isinstance(negated.operand, InList)
    assert query.order_by[0].descending and not query.order_by[0].nulls_first


def test_string_escapes() -> None:
    where = parse(r"SELECT Id FROM Account WHERE Name = 'O\'Brien \\ \n'").where
    assert isinstance(where, Comparison) and where.value.value == "O'Brien \\ \n"
    assert error(r"SELECT Id FROM Account WHERE Name = 'a\qb'").code == "MALFORMED_QUERY"


@pytest.mark.parametrize(
    ("soql", "code", "column"),
    [
        ("SELECT Id FROM Account WHERE Nme = 'x'", "INVALID_FIELD", 30),
        ("SELECT Id FROM Acount", "INVALID_TYPE", 16),
        ("SELEC Id FROM Account", "MALFORMED_QUERY", 1),
        ("SELECT Id FROM Account WHERE Name = 'a' OR Name = 'b' AND Name = 'c'", "MALFORMED_QUERY", 55),
        ("SELECT Id FROM Account LIMIT -1", "MALFORMED_QUERY", 30),
        ("SELECT Id FROM Account ORDER BY BillingAddress", "INVALID_FIELD", 33),
        ("SELECT Id FROM Account WHERE BillingAddress = null", "INVALID_FIELD", 30),
        ("SELECT Id FROM Account WHERE IsDeleted > true", "INVALID_QUERY_FILTER_OPERATOR", 42),
        ("SELECT Id FROM Account WHERE AnnualRevenue LIKE '1%'", "INVALID_QUERY_FILTER_OPERATOR", 49),
        ("SELECT Id FROM Account WHERE CreatedDate > 2024-01-01", "INVALID_FIELD", 44),
        ("SELECT Id FROM Account WHERE LastActivityDate > 2024-01-01T00:00:00Z", "INVALID_FIELD", 49),
        ("SELECT Id FROM Account WHERE IsDeleted = 'false'", "INVALID_FIELD", 42),
        ("SELECT Id FROM Account WHERE OwnerId = '005'", "INVALID_QUERY_FILTER_OPERATOR", 40),
        ("SELECT Id FROM Account OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE", 24),
        ("SELECT COUNT(), Id FROM Account", "MALFORMED_QUERY", 8),
        ("SELECT COUNT(Id), Name FROM Account", "MALFORMED_QUERY", 19),
        ("SELECT Contact.Name FROM Account", "INVALID_FIELD", 8),
        ("SELECT MAX(Id) FROM Account", "MALFORMED_QUERY", 8),
        ("SELECT Id FROM Account GROUP BY Name", "MALFORMED_QUERY", 24),
    ],
)
def test_errors_name_the_code_and_point_at_the_token(soql: str, code: str, column: int) -> None:
    caught = error(soql)
    assert caught.code == code, caught.detail
    located = caught.located(soql).message
    assert located.startswith(f"\n{soql}\n{' ' * (column - 1)}^\nERROR at Row:1:Column:{column}\n"), located


def test_error_rows_count_lines() -> None:
    soql = "SELECT Id\nFROM Account\nWHERE Nope = 1"
    assert "ERROR at Row:3:Column:7" in error(soql).located(soql).message


def test_text_comparisons_are_case_insensitive_and_null_is_a_value_for_equality(store: TableStore) -> None:
    assert names(store, "SELECT Id FROM Account WHERE Name = 'ACME DENTAL'") == ["Acme Dental"]
    assert names(store, "SELECT Id FROM Account WHERE Type = null") == ["Beacon Law"]
    assert names(store, "SELECT Id FROM Account WHERE Type != 'Prospect'") == [
        "acme logistics",
        "Beacon Law",
        "100% Foods_Co",
    ]
    assert names(store, "SELECT Id FROM Account WHERE Type NOT IN ('Other', 'Prospect')") == [
        "acme logistics",
        "Beacon Law",
    ]
    assert names(store, "SELECT Id FROM Account WHERE AnnualRevenue < 200") == ["Acme Dental", "100% Foods_Co"]
    assert names(store, "SELECT Id FROM Account WHERE AnnualRevenue != null AND AnnualRevenue >= 100.0") == [
        "Acme Dental",
        "acme logistics",
    ]


def test_like_wildcards_and_escapes(store: TableStore) -> None:
    assert names(store, "SELECT Id FROM Account WHERE Name LIKE 'acme%'") == ["Acme Dental", "acme logistics"]
    assert names(store, "SELECT Id FROM Account WHERE Name LIKE '_eacon%'") == ["Beacon Law"]
    assert names(store, r"SELECT Id FROM Account WHERE Name LIKE '100\% Foods\_%'") == ["100% Foods_Co"]
    assert names(store, r"SELECT Id FROM Account WHERE Name LIKE '100\%_Foods%'") == ["100% Foods_Co"]
    assert names(store, "SELECT Id FROM Account WHERE NOT Name LIKE '%a%'") == ["100% Foods_Co"]


def test_ordering_puts_nulls_where_asked(store: TableStore) -> None:
    assert names(store, "SELECT Id FROM Account ORDER BY AnnualRevenue") == [
        "Beacon Law",
        "100% Foods_Co",
        "Acme Dental",
        "acme logistics",
    ]
    assert names(store, "SELECT Id FROM Account ORDER BY AnnualRevenue DESC") == [
        "acme logistics",
        "Acme Dental",
        "100% Foods_Co",
        "Beacon Law",
    ]
    assert names(store, "SELECT Id FROM Account ORDER BY AnnualRevenue ASC NULLS LAST LIMIT 2") == [
        "100% Foods_Co",
        "Acme Dental",
    ]
    assert names(store, "SELECT Id FROM Account ORDER BY Name DESC")[0] == "Beacon Law"  # case-insensitive


def test_date_literals(store: TableStore) -> None:
    assert date_range("TODAY", None, NOW) == (NOW - NOW % 86400, NOW - NOW % 86400 + 86400)
    week = date_range("THIS_WEEK", None, NOW)
    assert format_datetime(week[0]).startswith("2025-03-09T00:00:00")  # Sunday
    assert format_datetime(date_range("LAST_MONTH", None, NOW)[0]).startswith("2025-02-01")
    assert format_datetime(date_range("THIS_YEAR", None, NOW)[1]).startswith("2026-01-01")
    assert names(store, "SELECT Id FROM Account WHERE SystemModstamp = LAST_N_DAYS:2") == [
        "Acme Dental",
        "acme logistics",
    ]
    assert names(store, "SELECT Id FROM Account WHERE SystemModstamp < LAST_N_DAYS:2") == [
        "Beacon Law",
        "100% Foods_Co",
    ]
    assert names(store, "SELECT Id FROM Account WHERE LastActivityDate = YESTERDAY") == ["acme logistics"]
    assert names(store, "SELECT Id FROM Account WHERE LastActivityDate < 2025-02-01") == ["100% Foods_Co"]
    assert names(store, "SELECT Id FROM Account WHERE CreatedDate = N_DAYS_AGO:12") == ["acme logistics"]


def test_top_level_id_and_system_modstamp_conditions_become_index_bounds() -> None:
    first = ids.encode("001", 500)
    bound = plan(
        f"SELECT Id FROM Account WHERE Id > '{first}' AND SystemModstamp >= 2024-01-01T00:00:00.500Z "
        "AND SystemModstamp < 2024-02-01T00:00:00Z AND Name != null ORDER BY Id"
    )
    start = calendar.timegm((2024, 1, 1, 0, 0, 0))
    assert (bound.id_low, bound.id_high) == (501, None)
    assert (bound.stamp_low, bound.stamp_high) == (start + 1, calendar.timegm((2024, 2, 1, 0, 0, 0)) - 1)
    assert bound.residual is not None and bound.ordering.index is IndexOrder.ID_ASC
    only_bounds = plan(f"SELECT Id FROM Account WHERE Id <= '{first[:15]}' AND SystemModstamp = YESTERDAY")
    assert only_bounds.residual is None and only_bounds.id_high == 500
    assert only_bounds.stamp_high is not None and only_bounds.stamp_high - only_bounds.stamp_low == 86399  # type: ignore[operator]
    # a bound on another object's id prefix stays a plain string comparison
    foreign = plan(f"SELECT Id FROM Account WHERE Id > '{ids.encode('003', 1)}'")
    assert foreign.id_low is None and foreign.residual is not None
    # under OR nothing is a bound
    either = plan(f"SELECT Id FROM Account WHERE (Id = '{first}' OR Name = 'x')")
    assert either.id_low is None and either.residual is not None
    assert plan("SELECT Id FROM Account ORDER BY SystemModstamp").ordering.index is IndexOrder.UPDATED_ASC
    assert plan("SELECT Id FROM Account ORDER BY Id DESC").ordering.index is IndexOrder.ID_DESC


def test_index_bounds_select_the_same_records_as_the_predicate(store: TableStore) -> None:
    stamps = sorted(r["SystemModstamp"] for r in store.records.values())
    soql = f"SELECT Id FROM Account WHERE SystemModstamp > {stamps[0][:19]}Z AND SystemModstamp <= {stamps[2][:19]}Z"
    assert len(names(store, soql)) == 2
    assert datetime_text(calendar.timegm((2024, 1, 1, 0, 0, 0)) + 0.25) == "2024-01-01T00:00:00.250+0000"


def test_ids_order_like_their_keys_and_carry_the_case_checksum() -> None:
    keys = [0, 1, 61, 62, 3843, 99_999, 2**31 - 1]
    encoded = [ids.encode("001", key) for key in keys]
    assert encoded == sorted(encoded)
    assert all(len(i) == 18 and i.startswith("0015g0") for i in encoded)
    assert [ids.decode(i, "001") for i in encoded] == keys
    assert ids.to18(encoded[3][:15]) == encoded[3]
    assert ids.encode("001", 0)[15:] == "AAA"  # no upper-case letters in the first 15 characters
    with pytest.raises(ValueError):
        ids.decode(encoded[2], "003")
    with pytest.raises(ValueError):
        ids.to18(encoded[2][:15] + "ZZZ")
