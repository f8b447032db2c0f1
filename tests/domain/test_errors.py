"""AVESA's errors cross process boundaries intact: a unit that fails in a worker process gives its
caller the same error, with the same message and fields."""

from __future__ import annotations

import pickle

from avesa.domain.errors import (
    AuthenticationError,
    BadDataError,
    ConfigError,
    NotFoundError,
    RateLimitedError,
    TransientError,
    UsageError,
)


def test_every_kind_of_error_survives_pickling_with_its_message_and_fields() -> None:
    errors = [
        NotFoundError("tenant", "ghost", ["acme", "globex"], "Add it with `avesa tenant add`"),
        ConfigError("AVESA_ENV='production': input should be 'dev', 'staging' or 'prod'"),
        UsageError("give --company-name"),
        AuthenticationError("refused", tenant_id="acme", service="connectwise", table="service_tickets"),
        RateLimitedError("slow down", retry_after=2.5, tenant_id="acme", service="servicenow"),
        TransientError("HTTP 503", tenant_id="acme"),
        BadDataError("page 3: id 7 after 9", tenant_id="acme", service="connectwise", table="time_entries"),
    ]
    for error in errors:
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error) and vars(copy) == vars(error)
    assert pickle.loads(pickle.dumps(errors[0])).known == ["acme", "globex"]
    assert pickle.loads(pickle.dumps(errors[4])).retry_after == 2.5
