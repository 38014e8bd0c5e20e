"""What every topic's schema shares: the schema version, tame names, UTC timestamps, the severity order.

Why a module of its own: the topic schemas (telemetry, detection, forecast, incident, action) each
live in their own module of :mod:`forewarn.events`, and all of them need these few pieces.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION: Literal[1] = 1

# Service and metric names end up in Kafka keys, Prometheus labels and file names: keep them tame.
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
Scalar = str | int | float | bool | None
Details = dict[str, Scalar | list[Scalar] | dict[str, Scalar]]

_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def utc_in_range(value: datetime) -> datetime:
    """``value`` as aware UTC (naive means UTC); refuses dates outside 2000..2100 (a unit mix-up)."""
    stamped = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if not _EARLIEST <= stamped < _LATEST:
        raise ValueError(f"timestamp {stamped.isoformat()} is outside 2000-01-01..2100-01-01")
    return stamped


class Severity(StrEnum):
    """How bad something is. The declaration order is the severity order (see :attr:`rank`)."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for info, 1 for warning, 2 for critical: compare severities by this, never as strings."""
        return list(Severity).index(self)

    def at_least(self, other: Severity) -> bool:
        """True when this severity is ``other`` or worse."""
        return self.rank >= other.rank

    @staticmethod
    def worst(severities: Iterable[Severity], default: Severity | None = None) -> Severity:
        """The worst of ``severities`` (``default``, else INFO, when there are none)."""
        return max(severities, key=lambda s: s.rank, default=default or Severity.INFO)


class TopicMessage(BaseModel):
    """Base of the messages forewarn itself produces: frozen, versioned, serialised as JSON bytes."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json().encode()


def finite(value: float) -> bool:
    return not (math.isnan(value) or math.isinf(value))


__all__ = [
    "SCHEMA_VERSION",
    "Details",
    "Name",
    "Scalar",
    "Severity",
    "TopicMessage",
    "finite",
    "utc_in_range",
]
