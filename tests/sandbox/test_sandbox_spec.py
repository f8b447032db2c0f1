"""Instance specs as the command line gives them."""

import pytest

from avesa_sandbox.spec import InstanceSpec


def test_command_line_specs_name_service_scale_and_seed() -> None:
    spec = InstanceSpec.parse("servicenow/acme:tiny:3")
    assert (spec.service, spec.name, spec.scale, spec.seed) == ("servicenow", "acme", "tiny", 3)
    plain = InstanceSpec.parse("acme", default_scale="medium")
    assert (plain.service, plain.name, plain.scale, plain.seed) == ("connectwise", "acme", "medium", 0)


@pytest.mark.parametrize("text", ["", "servicenow/", "a:b:1:2"])
def test_a_malformed_spec_says_the_expected_form(text: str) -> None:
    with pytest.raises(ValueError, match=r"\[service/\]name\[:scale\[:seed\]\]"):
        InstanceSpec.parse(text)
