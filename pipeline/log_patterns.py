"""Log template mining per service inside the dataflow (engineer F's drain3 ``LogPatternMiner``).

Why per service: each service writes its own kinds of lines; a template new to ``payments`` is news
even if ``auth`` writes it all day, and keying by service lets Bytewax spread services over workers
and keep each service's lines in order. The miner reports rate spikes of a template
(``log_rate_anomaly``), templates that appear after warm-up (``new_log_template``) and jumps in the
share of error lines (``log_error_ratio``); they go to the detections topic like every detection.

Snapshot trade-off: the miner's whole state (drain3 tree + per-template windows) is pickled when
Bytewax snapshots, i.e. once per epoch per service that logged in it, not per line. Its size grows
with the number of templates (~3 KB for a few templates, ~100-200 bytes per extra template), which
is small for a service's vocabulary; lines are redacted before mining, so a snapshot never holds a
secret. The clock is not part of the state (it is re-injected on restore).

Digests: besides detections, the miner hands over what each service wrote in a short period
(:class:`~forewarn.events.LogTemplateDigest`); the dataflow publishes them on the log-templates topic,
so the responder can cite log lines on incidents that no log detection opened. The counts since the
last digest live in the miner, so they are in the snapshot too.
"""

from __future__ import annotations

import copy
import logging
import pickle
from collections.abc import Callable
from datetime import datetime

from forewarn.events import Detection, LogRecord, LogTemplateDigest
from forewarn.incidents.log_patterns import LogPatternMiner

log = logging.getLogger(__name__)

MinerFactory = Callable[[Callable[[], datetime]], LogPatternMiner]

__all__ = ["MinerFactory", "ServicePatterns", "default_miner"]


def default_miner(clock: Callable[[], datetime]) -> LogPatternMiner:
    """F's miner with its documented defaults (30 s windows, 120 s warm-up), no state file:
    Bytewax recovery is the persistence here."""
    return LogPatternMiner(clock=clock)


class ServicePatterns:
    """One service's miner: observe records, and snapshot/restore without the (unpicklable) clock."""

    def __init__(self, miner: LogPatternMiner) -> None:
        self.miner = miner

    def observe(self, record: LogRecord) -> list[Detection]:
        """The detections one line triggers. A miner failure costs that line, never the dataflow."""
        try:
            return self.miner.observe(record)
        except Exception:  # a bug in mining one line must not stop the flow
            log.exception("log pattern mining failed on a %s line of %s", record.level.value, record.service)
            return []

    def pending_since(self) -> datetime | None:
        """Event time of the oldest line not yet in a digest (None: nothing to publish)."""
        return self.miner.pending_since()

    def digests(self) -> list[LogTemplateDigest]:
        """What the service wrote since the last digest; a failure costs that digest, never the flow."""
        try:
            return self.miner.digests()
        except Exception:  # a bug in summarising must not stop the flow
            log.exception("log template digest failed")
            return []

    def snapshot(self) -> bytes:
        shallow = copy.copy(self.miner)
        shallow.clock = None  # type: ignore[assignment]  # re-injected by restore()
        return pickle.dumps(shallow, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def restore(cls, blob: bytes, clock: Callable[[], datetime]) -> ServicePatterns:
        miner = pickle.loads(blob)
        if not isinstance(miner, LogPatternMiner):
            raise TypeError(f"log pattern snapshot holds a {type(miner).__name__}")
        miner.clock = clock
        return cls(miner)
