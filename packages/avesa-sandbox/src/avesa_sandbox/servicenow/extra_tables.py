"""Tables the reference schema file does not define, modelled on ServiceNow's documentation.

``sys_user_group``, ``time_card`` (Time Card Management), ``task_time_worked``, the Customer Service
Management tables ``customer_account`` (extends ``core_company``) and ``customer_contact`` (extends
``sys_user``), and ``sys_audit_delete`` (the audit of deleted records). Same structure as the
reference file's column specs (name, internal_type, reference, default, max_length). Every table has
the standard ``sys_*`` columns.

``CUSTOM_COLUMNS`` are the ``u_`` columns an MSP's instance typically adds (a PSA id, a billable
flag, a support tier...): a connector must carry fields it does not know about.
"""

from __future__ import annotations

from typing import Any

Spec = dict[str, Any]


def _c(name: str, internal_type: str = "string", reference: str | None = None, **extra: Any) -> Spec:
    spec: Spec = {"name": name, "internal_type": internal_type, **extra}
    if reference is not None:
        spec["reference"] = reference
    return spec


SYS_COLUMNS: tuple[Spec, ...] = (
    _c("sys_id", "GUID", max_length=32),
    _c("sys_created_by", max_length=40),
    _c("sys_created_on", "glide_date_time"),
    _c("sys_updated_by", max_length=40),
    _c("sys_updated_on", "glide_date_time"),
    _c("sys_mod_count", "integer"),
)

_DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")

EXTRA_TABLES: dict[str, dict[str, Any]] = {
    "sys_user_group": {
        "label": "Group",
        "columns": (
            _c("active", "boolean", default=True),
            _c("average_daily_fte", "float"),
            _c("cost_center", "reference", "cmn_cost_center"),
            _c("default_assignee", "reference", "sys_user"),
            _c("description", max_length=1000),
            _c("email", "email", max_length=100),
            _c("exclude_manager", "boolean", default=False),
            _c("hourly_rate", "currency", default="0"),
            _c("include_members", "boolean", default=False),
            _c("manager", "reference", "sys_user"),
            _c("name", max_length=80),
            _c("parent", "reference", "sys_user_group"),
            _c("points", "integer"),
            _c("roles", "user_roles", max_length=255),
            _c("source", max_length=255),
            _c("type", "glide_list", "sys_user_group_type", max_length=1024),
            *SYS_COLUMNS,
        ),
    },
    "time_card": {
        "label": "Time Card",
        "columns": (
            _c("category", default="task_work", max_length=40),
            _c("comments", max_length=4000),
            *(_c(day, "decimal", default="0") for day in _DAYS),
            _c("project_time_category", "reference", "project_time_category"),
            _c("rate_type", "reference", "time_card_rate_type"),
            _c("resource_plan", "reference", "resource_plan"),
            _c("state", default="Pending", max_length=40),
            _c("task", "reference", "task"),
            _c("time_sheet", "reference", "time_sheet"),
            _c("total", "decimal", default="0"),
            _c("user", "reference", "sys_user"),
            _c("week_starts_on", "glide_date"),
            _c("sys_class_name", "sys_class_name", max_length=80),
            _c("sys_domain", "domain_id", "sys_user_group", default="global"),
            _c("sys_domain_path", "domain_path", default="/", max_length=255),
            *SYS_COLUMNS,
        ),
    },
    "task_time_worked": {
        "label": "Time Worked",
        "columns": (
            _c("comments", max_length=4000),
            _c("rate_type", "reference", "time_card_rate_type"),
            _c("task", "reference", "task"),
            _c("time_card", "reference", "time_card"),
            _c("time_in_seconds", "integer"),
            _c("time_worked", "glide_duration"),
            _c("user", "reference", "sys_user"),
            _c("sys_domain", "domain_id", "sys_user_group", default="global"),
            _c("sys_domain_path", "domain_path", default="/", max_length=255),
            *SYS_COLUMNS,
        ),
    },
    "customer_account": {
        "label": "Account",
        "extends": "core_company",
        "columns": (
            _c("account_code", max_length=40),
            _c("account_parent", "reference", "customer_account"),
            _c("account_path", max_length=255),
            _c("number", max_length=40),
            _c("partner", "boolean", default=False),
            _c("primary_contact", "reference", "customer_contact"),
            _c("registration_code", max_length=40),
            _c("sys_domain", "domain_id", "sys_user_group", default="global"),
            _c("sys_domain_path", "domain_path", default="/", max_length=255),
        ),
    },
    "customer_contact": {
        "label": "Contact",
        "extends": "sys_user",
        "columns": (_c("account", "reference", "customer_account"),),
    },
    "sys_audit_delete": {
        "label": "Deleted Records",
        "columns": (
            _c("display_value", max_length=255),
            _c("documentkey", max_length=32),
            _c("payload", max_length=65000),
            _c("tablename", "table_name", max_length=80),
            *SYS_COLUMNS,
        ),
    },
}

CUSTOM_COLUMNS: dict[str, tuple[Spec, ...]] = {
    "incident": (_c("u_billable", "boolean", default=True), _c("u_psa_ticket_id", max_length=40)),
    "change_request": (_c("u_customer_approval_ref", max_length=40),),
    "problem": (_c("u_vendor_case", max_length=40),),
    "core_company": (_c("u_psa_company_id", max_length=40), _c("u_support_tier", max_length=40)),
    "customer_account": (_c("u_contract_seats", "integer"),),
    "sys_user": (_c("u_psa_member_id", max_length=40), _c("u_billing_rate", "currency")),
    "customer_contact": (_c("u_preferred_channel", max_length=40),),
    "sys_user_group": (_c("u_psa_board", max_length=80),),
    "cmdb_ci": (_c("u_rmm_device_id", max_length=64),),
    "time_card": (_c("u_invoice_number", max_length=40), _c("u_billable", "boolean", default=True)),
    "task_time_worked": (_c("u_billable", "boolean", default=True),),
}
