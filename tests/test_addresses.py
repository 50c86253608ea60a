"""What users type as an address becomes one canonical ZeroMQ endpoint, or a clear error."""

from __future__ import annotations

import pytest

from transports.address import AddressError, parse_address, parse_address_list


@pytest.mark.parametrize(("text", "endpoint"), [
    ("localhost:8080", "tcp://localhost:8080"),
    ("tcp://10.0.0.5:9000", "tcp://10.0.0.5:9000"),
    ("http://coord.lan:8080/", "tcp://coord.lan:8080"),
    ("10.0.0.5", "tcp://10.0.0.5:8080"),
    ("[::1]:7000", "tcp://[::1]:7000"),
    ("::1", "tcp://[::1]:8080"),
])
def test_addresses_parse_to_endpoints(text: str, endpoint: str) -> None:
    assert parse_address(text).endpoint == endpoint


@pytest.mark.parametrize(("text", "reason"), [
    ("", "empty"), ("ftp://x:1", "unsupported scheme"), ("host:abc", "not a number"),
    ("host:0", "outside"), ("host:65536", "outside"), ("[::1:80", "unclosed"), ("bad host:1", "not a valid"),
])
def test_bad_addresses_say_why(text: str, reason: str) -> None:
    with pytest.raises(AddressError, match=reason):
        parse_address(text)


def test_address_lists_drop_duplicates_and_keep_order() -> None:
    parsed = parse_address_list("b:1, a:2,tcp://b:1")
    assert [a.endpoint for a in parsed] == ["tcp://b:1", "tcp://a:2"]
