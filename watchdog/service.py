"""The ``forewarn watchdog`` loop: every ``interval_seconds``, run every check and alert on changes."""

from __future__ import annotations

import logging
import signal
import threading
import time

import httpx

from forewarn.settings import Settings
from forewarn.watchdog import checks
from forewarn.watchdog.alerter import Alerter, channels_from_settings
from forewarn.watchdog.probes import KafkaReader, fetch_metrics

__all__ = ["Watchdog", "serve"]

log = logging.getLogger(__name__)


class Watchdog:
    """One round of checks (:meth:`check`) and its alerts (:meth:`round`)."""

    def __init__(self, settings: Settings, alerter: Alerter | None = None) -> None:
        self.settings = settings.watchdog
        self.kafka = KafkaReader(settings.kafka)
        self.http = httpx.Client(timeout=min(5.0, self.settings.interval_seconds))
        self.alerter = alerter or Alerter(channels_from_settings(settings.watchdog))

    def close(self) -> None:
        self.http.close()

    def check(self) -> list[checks.Finding]:
        cfg = self.settings
        now = time.time()
        findings = []
        for component, url in sorted(cfg.targets.items()):
            text, error = fetch_metrics(self.http, url)
            beats = checks.heartbeats_in(text) if text is not None else None
            findings.append(checks.heartbeat(component, beats, now, cfg.heartbeat_max_age_seconds, error))
        if cfg.consumer_groups:
            for group, (behind, error) in self.kafka.lag(cfg.consumer_groups).items():
                findings.append(checks.lag(group, behind, cfg.max_lag_messages, error))
        if cfg.event_topics:
            for topic, (newest, error) in self.kafka.newest(cfg.event_topics).items():
                findings.append(
                    checks.event_age(topic, newest, time.time(), cfg.max_event_age_seconds, error)
                )
        return findings

    def round(self) -> list[checks.Finding]:
        findings = self.check()
        self.alerter.observe(findings)
        return findings


def serve(settings: Settings, stop: threading.Event | None = None) -> None:
    """Check until ``stop`` is set (or SIGINT/SIGTERM in the main thread)."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    watchdog = Watchdog(settings)
    cfg = settings.watchdog
    if not watchdog.alerter.channels:
        log.warning("watchdog: no webhook_url or email configured; problems are only logged")
    log.info(
        "watchdog checking %d components, %d consumer groups, %d topics every %.1f s",
        len(cfg.targets),
        len(cfg.consumer_groups),
        len(cfg.event_topics),
        cfg.interval_seconds,
    )
    try:
        while not stop.is_set():
            started = time.monotonic()
            try:
                findings = watchdog.round()
                bad = checks.failing(findings)
                log.info("watchdog round: %d checks, %d failing", len(findings), len(bad))
            except Exception:  # a bug in a check must not stop the watching
                log.exception("watchdog round failed")
            stop.wait(max(0.0, cfg.interval_seconds - (time.monotonic() - started)))
    finally:
        watchdog.close()
