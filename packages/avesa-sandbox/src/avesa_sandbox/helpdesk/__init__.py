"""Acme Helpdesk: a plain, well-designed REST API that is none of the built-in services.

It exists so that adding a service with only a spec file and a mapping file (no code) can be shown
and tested: API-key auth, ``/api/v2/{table}`` with ``updated_since`` / ``updated_before`` /
``after_id`` / ``sort`` / ``limit`` / ``fields``, ``{"data", "total", "has_more"}`` bodies and
``X-RateLimit-*`` headers. docs/sandbox.md documents it precisely enough to write that spec.
"""
