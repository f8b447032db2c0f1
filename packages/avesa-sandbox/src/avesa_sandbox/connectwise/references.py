"""Reference objects (``{id, name, _info: {x_href}}``) and ``_info`` links, built like ConnectWise.

Every reference to the same target is the same dict object (interned), and records never mutate
nested objects in place, so a table of 50,000 time entries does not hold 50,000 copies of the
"Help Desk" board reference. Links are absolute URLs under the instance's API base, as the real
API returns them.
"""

from __future__ import annotations

from typing import Any

# kind -> (href key in _info, path under the API base; {id} and any extra keys are formatted in)
REF_KINDS: dict[str, tuple[str, str]] = {
    "company": ("company_href", "company/companies/{id}"),
    "contact": ("contact_href", "company/contacts/{id}"),
    "member": ("member_href", "system/members/{id}"),
    "board": ("board_href", "service/boards/{id}"),
    "ticket_status": ("status_href", "service/boards/{board}/statuses/{id}"),
    "ticket_type": ("type_href", "service/boards/{board}/types/{id}"),
    "ticket_subtype": ("subType_href", "service/boards/{board}/subtypes/{id}"),
    "ticket_item": ("item_href", "service/boards/{board}/items/{id}"),
    "team": ("team_href", "service/boards/{board}/teams/{id}"),
    "priority": ("priority_href", "service/priorities/{id}"),
    "source": ("source_href", "service/sources/{id}"),
    "service_location": ("location_href", "service/locations/{id}"),
    "country": ("country_href", "company/countries/{id}"),
    "company_status": ("status_href", "company/companies/statuses/{id}"),
    "company_type": ("type_href", "company/companies/types/{id}"),
    "market": ("Market_href", "company/marketDescriptions/{id}"),
    "location": ("location_href", "system/locations/{id}"),
    "system_department": ("department_href", "system/departments/{id}"),
    "time_zone": ("timeZoneSetup_href", "system/timeZoneSetups/{id}"),
    "tax_code": ("taxCode_href", "finance/taxCodes/{id}"),
    "billing_terms": ("billingTerms_href", "finance/billingTerms/{id}"),
    "billing_cycle": ("billingCycle_href", "finance/billingCycles/{id}"),
    "ownership_type": ("ownershipType_href", "company/ownershipTypes/{id}"),
    "delivery_method": ("billingDelivery_href", "finance/billingDeliveries/{id}"),
    "currency": ("currency_href", "finance/currencies/{id}"),
    "site": ("site_href", "company/companies/{company}/sites/{id}"),
    "contact_type": ("type_href", "company/contacts/types/{id}"),
    "relationship": ("relationship_href", "company/contacts/relationships/{id}"),
    "contact_department": ("department_href", "company/contacts/departments/{id}"),
    "communication_type": ("type_href", "company/communicationTypes/{id}"),
    "work_type": ("workType_href", "time/workTypes/{id}"),
    "work_role": ("workRole_href", "time/workRoles/{id}"),
    "agreement": ("agreement_href", "finance/agreements/{id}"),
    "agreement_type": ("type_href", "finance/agreements/types/{id}"),
    "ticket": ("ticket_href", "service/tickets/{id}"),
    "project": ("project_href", "project/projects/{id}"),
    "project_board": ("board_href", "project/boards/{id}"),
    "project_status": ("status_href", "project/statuses/{id}"),
    "project_type": ("type_href", "project/projectTypes/{id}"),
    "security_role": ("securityRole_href", "system/securityRoles/{id}"),
    "member_type": ("type_href", "system/memberTypes/{id}"),
    "catalog_item": ("catalog_href", "procurement/catalog/{id}"),
    "unit_of_measure": ("uom_href", "procurement/unitOfMeasures/{id}"),
    # used by the tables in extra_tables
    "service_signoff": ("signOffTemplate_href", "service/serviceSignoff/{id}"),
    "email_template": ("emailTemplate_href", "service/emailTemplates/{id}"),
    "configuration_type": ("type_href", "company/configurations/types/{id}"),
    "configuration_status": ("status_href", "company/configurations/statuses/{id}"),
    "manufacturer": ("manufacturer_href", "procurement/manufacturers/{id}"),
    "opportunity_type": ("type_href", "sales/opportunities/types/{id}"),
    "opportunity_stage": ("stage_href", "sales/stages/{id}"),
    "opportunity_status": ("status_href", "sales/opportunities/statuses/{id}"),
    "opportunity_priority": ("priority_href", "sales/opportunities/priorities/{id}"),
    "opportunity_probability": ("probability_href", "sales/probabilities/{id}"),
    "opportunity_rating": ("rating_href", "sales/opportunities/ratings/{id}"),
    "campaign": ("campaign_href", "marketing/campaigns/{id}"),
    "schedule_type": ("type_href", "schedule/types/{id}"),
    "schedule_status": ("status_href", "schedule/statuses/{id}"),
    "reminder": ("reminder_href", "schedule/reminderTimes/{id}"),
}


class References:
    """Builds interned reference objects and ``_info`` link maps for one instance."""

    def __init__(self, api_base: str) -> None:
        self.api_base = api_base.rstrip("/")
        self._interned: dict[tuple[Any, ...], dict[str, Any]] = {}

    def url(self, path: str) -> str:
        """Absolute URL of an API path."""
        return f"{self.api_base}/{path}"

    def ref(self, kind: str, ref_id: int, *, link: dict[str, int] | None = None, **fields: Any) -> dict[str, Any]:
        """``{id, **fields, _info: {<kind>_href}}``; ``link`` fills extra path placeholders."""
        key = (kind, ref_id, tuple(sorted((link or {}).items())), tuple(fields.items()))
        cached = self._interned.get(key)
        if cached is not None:
            return cached
        href_key, template = REF_KINDS[kind]
        reference = {"id": ref_id, **fields, "_info": {href_key: self.url(template.format(id=ref_id, **(link or {})))}}
        self._interned[key] = reference
        return reference

    def links(self, base_path: str, names: tuple[str, ...]) -> dict[str, str]:
        """``_info`` links of a record's sub-resources (``{name}_href``)."""
        return {f"{name}_href": self.url(f"{base_path}/{name}") for name in names}
