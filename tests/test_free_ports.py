"""Ports for cluster members and local servers: free now, and outside the kernel's ephemeral range."""

from __future__ import annotations

import random
import socket
from pathlib import Path

from forewarn.free_ports import ephemeral_range, free_ports


def test_ports_are_distinct_bindable_and_below_the_ephemeral_range() -> None:
    low, _ = ephemeral_range()
    ports = free_ports(5)
    assert len(set(ports)) == 5
    assert all(low // 2 <= p < low for p in ports)
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # raises if it was not free


class _Scripted(random.Random):
    """Offers the given ports first, in order, so the test knows which ones are tried."""

    def __init__(self, ports: list[int]) -> None:
        super().__init__(0)
        self.ports = ports

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        return self.ports.pop(0) if self.ports else super().randrange(start, stop, step)


def test_a_port_in_use_is_skipped_and_a_repeat_is_not_taken_twice() -> None:
    low, _ = ephemeral_range()
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        spare = next(p for p in range(low // 2, low) if p != taken and _free(p))
        picked = free_ports(1, rng=_Scripted([taken, spare]))
        assert picked == [spare]
        again = free_ports(2, rng=_Scripted([spare, spare, taken, spare + 1]))
        assert again[0] == spare and again[1] not in (spare, taken)


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_an_unreadable_range_file_means_linux_defaults(tmp_path: Path) -> None:
    assert ephemeral_range(tmp_path / "missing") == (32768, 60999)
    bad = tmp_path / "bad"
    bad.write_text("not numbers")
    assert ephemeral_range(bad) == (32768, 60999)
