"""Node addresses: parse what users type (`host:port`, `tcp://host:port`, `http://host:port`,
`[::1]:8080`, a bare host) into one canonical `tcp://host:port` endpoint."""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_PORT = 8080

_SCHEMES = ("tcp://", "http://", "https://")
_HOSTNAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class AddressError(ValueError):
    """An address a user gave cannot be parsed; the message says why."""


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int

    @property
    def endpoint(self) -> str:
        """The ZeroMQ endpoint, with IPv6 hosts in brackets."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"

    def __str__(self) -> str:
        return self.endpoint


def parse_address(text: str, default_port: int = DEFAULT_PORT) -> Address:
    """Parse one address. Raises `AddressError` with the reason."""
    raw = text.strip()
    if not raw:
        raise AddressError("empty address")
    rest = raw
    for scheme in _SCHEMES:
        if rest.lower().startswith(scheme):
            rest = rest[len(scheme):]
            break
    else:
        if "://" in rest:
            raise AddressError(f"{text!r}: unsupported scheme (use tcp://, http:// or host:port)")
    rest = rest.rstrip("/")
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            raise AddressError(f"{text!r}: unclosed '[' in IPv6 address")
        host, tail = rest[1:end], rest[end + 1:]
        if tail and not tail.startswith(":"):
            raise AddressError(f"{text!r}: expected ':port' after ']'")
        port_text = tail[1:] if tail else ""
    elif rest.count(":") == 1:
        host, port_text = rest.split(":")
    elif ":" in rest:
        host, port_text = rest, ""  # a bare IPv6 address
    else:
        host, port_text = rest, ""
    if not host:
        raise AddressError(f"{text!r}: missing host")
    if ":" not in host and not _HOSTNAME.match(host):
        raise AddressError(f"{text!r}: {host!r} is not a valid host name")
    if port_text:
        if not port_text.isdigit():
            raise AddressError(f"{text!r}: port {port_text!r} is not a number")
        port = int(port_text)
    else:
        port = default_port
    if not 1 <= port <= 65535:
        raise AddressError(f"{text!r}: port {port} is outside 1-65535")
    return Address(host, port)


def parse_address_list(text: str, default_port: int = DEFAULT_PORT) -> list[Address]:
    """Parse a comma-separated list of addresses; duplicates are dropped, order kept."""
    out: list[Address] = []
    for part in text.split(","):
        if part.strip():
            addr = parse_address(part, default_port)
            if addr not in out:
                out.append(addr)
    if not out:
        raise AddressError("no address given")
    return out
