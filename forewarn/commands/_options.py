"""The typer options several commands share, as ``Annotated`` types: one spelling, range and help.

Why: ``--bootstrap-servers``, ``--metrics-port``, ``--store-url`` and ``--no-kafka`` were pasted into
each command, and their help texts had started to drift (``host:port`` here, ``host:port[,host:port]``
there). A command declares e.g. ``bootstrap_servers: BootstrapServers = None``; the default stays in
the signature, and ``None`` always means "from settings".
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

__all__ = [
    "BootstrapServers",
    "NoKafka",
    "ProbeMetricsPort",
    "RespondMetricsPort",
    "RunMetricsPort",
    "ShipperMetricsPort",
    "StoreUrl",
]


def _metrics_port(where: str, default: str) -> Any:  # typer's OptionInfo
    return typer.Option(
        "--metrics-port",
        min=0,
        max=65535,
        help=f"Serve Prometheus /metrics on {where}:PORT (0: a free port, logged). Default: {default}.",
    )


BootstrapServers = Annotated[
    str | None,
    typer.Option("--bootstrap-servers", help="Kafka host:port[,host:port] (default: settings)."),
]
StoreUrl = Annotated[
    str | None, typer.Option("--store-url", help="SQLAlchemy URL of the store (default: store.url).")
]
NoKafka = Annotated[bool, typer.Option("--no-kafka", help="Publish nothing to Kafka; print it instead.")]
RunMetricsPort = Annotated[
    int | None,
    _metrics_port(
        "HOST",
        "settings metrics.port, 9108; HOST is settings metrics.bind_address, 127.0.0.1. "
        "With -w N, process I uses PORT+I",
    ),
]
ProbeMetricsPort = Annotated[
    int | None, _metrics_port("metrics.bind_address", "settings probe.metrics_port (none)")
]
RespondMetricsPort = Annotated[
    int | None, _metrics_port("metrics.bind_address", "settings responder.metrics_port (none)")
]
ShipperMetricsPort = Annotated[int | None, _metrics_port("metrics.bind_address", "none")]
