"""The dataflow as a cluster across hosts: ``forewarn run --process-id I --addresses A,B`` per member.

Why: ``-w N`` scales on one host; past it, each host runs one member and the members find each other
through ``--addresses``. Here two loopback addresses, 127.0.0.2 and 127.0.0.3, stand for two hosts:
each member gets its own config (its /metrics on its own address, as ``metrics.bind_address`` on a
real host), the real broker is shared, both read their share of the input, and each member's cluster
traffic uses its own address. A listener on 127.0.0.1 at each member's port makes a member that
bound every interface (0.0.0.0) fail, so the test also shows each binds only its own address.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from forewarn.settings import Settings

from .kafka_process import DataflowProcess, plain_producer, probe, start_dataflow

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HOSTS = ("127.0.0.2", "127.0.0.3")
PROBES_PER_PARTITION = 4


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _tcp_sockets(pid: int) -> list[tuple[str, str, str]]:
    """(local, remote, state) of the process's TCP sockets, from /proc (no ss/netstat needed)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    out = []
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[9] in inodes:
            out.append(
                (
                    _address(fields[1]),
                    _address(fields[2]),
                    {"01": "ESTABLISHED", "0A": "LISTEN"}.get(fields[3], fields[3]),
                )
            )
    return out


def _address(hex_pair: str) -> str:
    host, port = hex_pair.split(":")
    octets = [str(int(host[i : i + 2], 16)) for i in range(6, -1, -2)]  # little-endian IPv4
    return f"{'.'.join(octets)}:{int(port, 16)}"


def test_two_members_on_two_hosts_share_the_input_over_their_own_addresses(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    ports = [_free_port(host) for host in HOSTS]
    addresses = [f"{host}:{port}" for host, port in zip(HOSTS, ports, strict=True)]
    blockers = []
    for port in ports:  # a member binding 0.0.0.0:<its port> would now fail with "address in use"
        blocker = socket.socket()
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        blockers.append(blocker)
    members: list[DataflowProcess] = []
    try:
        with contextlib.ExitStack() as stack:
            for index, host in enumerate(HOSTS):
                metrics = kafka_settings.metrics.model_copy(update={"bind_address": host})
                settings = kafka_settings.model_copy(update={"metrics": metrics})
                folder = tmp_path / f"host-{index}"
                folder.mkdir()
                members.append(
                    stack.enter_context(
                        start_dataflow(
                            settings, folder, "--process-id", str(index), "--addresses", ",".join(addresses)
                        )
                    )
                )
            assert [m.metrics_url.split("/")[2].split(":")[0] for m in members] == list(HOSTS)
            _send_to_every_partition(kafka_settings)
            counts = _wait_for_reads(members, 3 * PROBES_PER_PARTITION)
            sockets = [_tcp_sockets(m.proc.pid) for m in members]
            for member in members:
                member.proc.send_signal(signal.SIGINT)  # both at once: the cluster drains as one
            for index, member in enumerate(members):
                assert member.proc.wait(timeout=60) == 0, "\n".join(member.lines[-30:])
                assert any(f"dataflow stopped (process {index})" in line for line in member.lines)
    finally:
        for blocker in blockers:
            blocker.close()
    assert sum(counts) == 3 * PROBES_PER_PARTITION and all(c > 0 for c in counts), counts
    # member 0 accepted member 1 on its own address; member 1 is connected to that address
    first, second = sockets
    assert any(local == addresses[0] and state == "ESTABLISHED" for local, _, state in first), first
    assert any(remote == addresses[0] and state == "ESTABLISHED" for _, remote, state in second), second
    print(f"events read per member: {counts}; member 0 sockets {first}; member 1 sockets {second}")


def _send_to_every_partition(settings: Settings) -> None:
    """Probes on each of the 3 partitions, so both members (each owning some) have input."""
    producer = plain_producer(settings)
    start = datetime.now(UTC) - timedelta(seconds=60)
    for partition in range(3):
        for i in range(PROBES_PER_PARTITION):
            service = f"svc-{partition}"
            when = start + timedelta(seconds=i)
            producer.send(
                settings.topics.probes,
                key=service.encode(),
                value=probe(service, when, True),
                partition=partition,
            )
    producer.flush()
    producer.close()


def _wait_for_reads(members: list[DataflowProcess], expected: int) -> list[float]:
    deadline = time.monotonic() + 60
    counts = [0.0] * len(members)
    while time.monotonic() < deadline:
        counts = [m.metric("forewarn_pipeline_events_total") for m in members]
        if sum(counts) >= expected:
            return counts
        for member in members:
            assert member.proc.poll() is None, "a member died:\n" + "\n".join(member.lines[-30:])
        time.sleep(0.25)
    pytest.fail(f"the members read {counts} of {expected} events")
