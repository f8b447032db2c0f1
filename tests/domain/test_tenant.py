import pytest

from avesa.domain.errors import UsageError
from avesa.domain.tenant import validate_tenant_id


@pytest.mark.parametrize("good", ["acme", "acme-corp", "a1", "0day-msp", "x" * 63])
def test_slugs_are_accepted(good: str) -> None:
    assert validate_tenant_id(good) == good


@pytest.mark.parametrize("bad", ["../x", "Acme", "acme corp", "a", "-acme", "acme/x", "acme_corp", "", "x" * 64])
def test_non_slugs_are_refused_with_a_hint(bad: str) -> None:
    with pytest.raises(UsageError, match="invalid tenant id") as info:
        validate_tenant_id(bad)
    assert "lower-case letters" in str(info.value)
