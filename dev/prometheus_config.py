"""A Prometheus scrape configuration for the ``/metrics`` endpoints of one forewarn run.

Why generate it: every forewarn process (dataflow, probe runner, responder, API) and the watched app
serve their own ``/metrics`` on ports chosen at start-up. A run that writes down where they are lets
an operator point a real Prometheus at it (``prometheus --config.file=<workdir>/prometheus.yml``)
and load ``dashboards/forewarn.json`` without guessing ports. One job per component, so the
``job`` label says which process a series came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

DEFAULT_SCRAPE_INTERVAL = "5s"


def scrape_config(targets: Mapping[str, str], interval: str = DEFAULT_SCRAPE_INTERVAL) -> dict[str, Any]:
    """``{"job": "http://host:port/path"}`` -> a Prometheus config document with one job per URL."""
    jobs: list[dict[str, Any]] = []
    for job, url in targets.items():
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"metrics target {job!r}: {url!r} is not an http(s) URL")
        jobs.append(
            {
                "job_name": job,
                "scheme": parts.scheme,
                "metrics_path": parts.path or "/metrics",
                "static_configs": [{"targets": [parts.netloc]}],
            }
        )
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": jobs,
    }


def write_scrape_config(
    path: Path, targets: Mapping[str, str], interval: str = DEFAULT_SCRAPE_INTERVAL
) -> Path:
    """Write :func:`scrape_config` as YAML to ``path``; returns ``path``."""
    path.write_text(yaml.safe_dump(scrape_config(targets, interval), sort_keys=False))
    return path


__all__ = ["scrape_config", "write_scrape_config"]
