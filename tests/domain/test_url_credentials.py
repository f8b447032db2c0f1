"""A URL's password taken out for the secret store and put back: the round trip is exact, and what
is stored or printed never holds it."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from avesa.domain.url_credentials import DOTS, masked, password_key, restore_passwords, split_password

USER = st.text(alphabet=string.ascii_letters + string.digits + "._-", max_size=12)
PASSWORD = st.text(alphabet=string.ascii_letters + string.digits + "._-~%!$&'()*+,;=", min_size=1, max_size=24)
HOST = st.sampled_from(["api.example.com", "127.0.0.1:8765", "acme.service-now.com", "[::1]:443"])
PATH = st.sampled_from(["", "/", "/helpdesk/acme", "/v1?x=1#f"])


@given(user=USER, password=PASSWORD, host=HOST, path=PATH, scheme=st.sampled_from(["https", "http"]))
def test_the_password_comes_out_and_goes_back_exactly(user: str, password: str, host: str, path: str,
                                                      scheme: str) -> None:
    url = f"{scheme}://{user}:{password}@{host}{path}"
    stored, taken = split_password(url)
    assert taken == password
    assert stored == f"{scheme}://{user + '@' if user else ''}{host}{path}"
    assert masked(url) == f"{scheme}://{user}:{DOTS}@{host}{path}"
    assert restore_passwords({"api_url": stored, password_key("api_url"): taken})["api_url"] == url


def test_values_without_a_password_are_left_alone() -> None:
    for value in ["https://api.example.com/v1", "https://user@host", "acme", "mailto:a:b@c", "not a url: x@y"]:
        assert split_password(value) == (value, None) and masked(value) == value
    assert restore_passwords({"api_url": "https://h"}) == {"api_url": "https://h"}
