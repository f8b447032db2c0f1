"""The simulated Salesforce REST API (OAuth 2 client credentials, SOQL query/queryAll, sObject resources)."""
