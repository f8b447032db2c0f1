"""Microsoft Graph (Microsoft 365) simulator: the AAD token endpoint and the v1.0 directory/Intune API."""
