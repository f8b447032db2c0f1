"""Same seed, same records: every simulated service's data for one seed is pinned by its digest, so
a change to the simulators' structure (a shared skeleton, renamed modules, the registry) that moves
one value or one draw of the random generator is caught. A deliberate change of the generated data
updates the digest here, in the same commit, saying why."""

from __future__ import annotations

import hashlib

import orjson
import pytest

from avesa_sandbox.service import SIMULATORS, simulator_for
from avesa_sandbox.spec import InstanceSpec

PINNED = {  # sha256 of the tiny instance "golden", seed 7, as generated at the sandbox's split
    "connectwise": ("5113e6d3a3045982d4ed0ae08a60adddeaa929d46fff7a6f7e64dd2a0a64bcf2", 473),
    "helpdesk": ("bb22bad1ed5040f6ca9b21345fbb0cae5cf95b5e2ef5dd500f1964a9f30a9d5c", 332),
    "microsoft365": ("2d7c8fbb41d53e1330bf5faf160e65c4dbb205459026d12b3ebb0131e70cfa93", 143),
    "salesforce": ("07718769725859d59d8760280c6216e9fdf407b4143c4baebad56d9c71644ee8", 283),
    "servicenow": ("44d549b584dc04de3489695ba35b69ae278847b12f56df2e6c5aec497d3839f2", 469),
}


def test_every_simulated_service_is_pinned() -> None:
    assert sorted(PINNED) == sorted(SIMULATORS)


@pytest.mark.parametrize("service", sorted(PINNED))
def test_a_seed_gives_the_records_it_always_gave(service: str) -> None:
    simulator = simulator_for(service)
    data = simulator.generate(InstanceSpec("golden", service=service, seed=7, scale="tiny"),
                              simulator.api_base("http://127.0.0.1:8765", "golden"))
    digest = hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()
    assert (digest, sum(len(records) for records in data.values())) == PINNED[service]


def test_an_unknown_service_names_the_ones_there_are() -> None:
    with pytest.raises(ValueError, match="'zendesk' is not simulated; available: connectwise, helpdesk, "
                                         "microsoft365, salesforce, servicenow"):
        simulator_for("zendesk")
