"""Pick ports that are free now and that the kernel will not hand out by itself before we bind them.

Why not ``bind(("127.0.0.1", 0))``: that port comes from the kernel's ephemeral range, the same
range every outgoing connection takes its source port from. Between picking a port and the process
that needs it binding it (a Bytewax cluster member imports for seconds first) any Kafka or HTTP
client on the machine can take it, and the member dies with "Address already in use". CI saw a
two-process dataflow that never produced anything this way. Ports just below the ephemeral range
are never given out implicitly, so only a process that binds that exact port can collide.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

__all__ = ["EPHEMERAL_RANGE_FILE", "ephemeral_range", "free_ports"]

EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LINUX_DEFAULT = (32768, 60999)
_ATTEMPTS = 200


def ephemeral_range(path: Path = EPHEMERAL_RANGE_FILE) -> tuple[int, int]:
    """The kernel's ephemeral port range (Linux's default when the file is missing or odd)."""
    try:
        low, high = (int(part) for part in path.read_text().split())
    except (OSError, ValueError):
        return _LINUX_DEFAULT
    return (low, high) if 1024 < low <= high else _LINUX_DEFAULT


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _os_picked(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_ports(
    count: int,
    host: str = "127.0.0.1",
    *,
    rng: random.Random | None = None,
    path: Path = EPHEMERAL_RANGE_FILE,
) -> list[int]:
    """``count`` distinct ports, bindable on ``host`` now, from the upper half below the ephemeral range.

    The upper half (16384 to 32767 with Linux's default range) keeps clear of the low ports that
    well-known services use. When no such port is found in a few hundred tries (a crowded or odd
    machine), the kernel picks instead: the old behaviour, with its small race.
    """
    rng = rng or random.Random()
    low = ephemeral_range(path)[0]
    first = max(1025, low // 2)
    ports: list[int] = []
    for _ in range(_ATTEMPTS):
        if len(ports) == count:
            return ports
        port = rng.randrange(first, low)
        if port not in ports and _bindable(host, port):
            ports.append(port)
    while len(ports) < count:
        port = _os_picked(host)
        if port not in ports:
            ports.append(port)
    return ports
