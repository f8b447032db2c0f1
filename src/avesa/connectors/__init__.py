"""Source connectors: auth, paging, rate budgets and retries for each service's API."""
