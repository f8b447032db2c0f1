"""ServiceNow Table API simulator (``/servicenow/{instance}/api/now/...``)."""
