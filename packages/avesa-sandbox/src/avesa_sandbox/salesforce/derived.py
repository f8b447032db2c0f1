"""Fields Salesforce computes from other fields, kept consistent whenever a record changes.

``Name`` of a person is its first and last name; a compound address (``BillingAddress``...) is
its components; ``IsClosed`` follows the status of cases, tasks and opportunities (and
``IsWon`` the stage); a task's ``IsHighPriority`` its priority; an opportunity's
``ExpectedRevenue`` is amount times probability. Admin updates and mutations change the inputs;
this recomputes the outputs, so no served record contradicts itself.
"""

from __future__ import annotations

from typing import Any

from avesa_sandbox.salesforce import vocab as v
from avesa_sandbox.salesforce.builders import address_object

Record = dict[str, Any]

ADDRESSES: dict[str, tuple[tuple[str, str], ...]] = {
    "Account": (("Billing", "BillingAddress"), ("Shipping", "ShippingAddress")),
    "Contact": (("Mailing", "MailingAddress"), ("Other", "OtherAddress")),
    "Lead": (("", "Address"),),
    "User": (("", "Address"),),
}

_CLOSED_STAGES = {stage[0]: stage for stage in v.STAGES}


def _address(record: Record, prefix: str, compound: str) -> None:
    record[compound] = address_object(
        record.get(f"{prefix}Street"),
        record.get(f"{prefix}City"),
        record.get(f"{prefix}State"),
        record.get(f"{prefix}PostalCode"),
        record.get(f"{prefix}Country"),
        record.get(f"{prefix}Latitude"),
        record.get(f"{prefix}Longitude"),
        record.get(f"{prefix}GeocodeAccuracy"),
    )


def derive(obj: str, record: Record) -> None:
    """Recompute the derived fields of ``record`` (a fresh dict, changed in place)."""
    if obj in ("Contact", "Lead", "User"):
        first, last = record.get("FirstName"), record.get("LastName")
        record["Name"] = " ".join(part for part in (first, last) if part) or record.get("Name")
    for prefix, compound in ADDRESSES.get(obj, ()):
        _address(record, prefix, compound)
    if obj == "Case":
        record["IsClosed"] = record.get("Status") == "Closed"
    elif obj == "Task":
        record["IsClosed"] = record.get("Status") == "Completed"
        record["IsHighPriority"] = record.get("Priority") == "High"
    elif obj == "Opportunity":
        stage = _CLOSED_STAGES.get(record.get("StageName") or "")
        if stage is not None:
            record["IsClosed"], record["IsWon"] = stage[3], stage[4]
        amount, probability = record.get("Amount"), record.get("Probability")
        if isinstance(amount, int | float) and isinstance(probability, int | float):
            record["ExpectedRevenue"] = round(amount * probability / 100, 2)
        else:
            record["ExpectedRevenue"] = None
