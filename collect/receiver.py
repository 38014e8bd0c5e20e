"""``forewarn receive``'s HTTP app: the standard doors through which other systems push to forewarn.

- ``POST /api/v1/write``: Prometheus remote_write (snappy + protobuf) -> the metrics topic.
- ``POST /v1/metrics``: OTLP/HTTP metrics (protobuf; gzip or not) -> the metrics topic.
- ``POST /alertmanager/webhook``: Alertmanager's webhook JSON v4 -> the detections topic.
- ``GET /healthz`` (no key) and ``GET /metrics`` (this process's Prometheus families).

Why a process of its own rather than routes in ``forewarn api``: pushes come from outside at their
own rate and need a Kafka producer, not the state store, so the read API is neither slowed nor
exposed by them, and each scales and restarts on its own. The guards are the API's: a key as
``Authorization: Bearer`` or ``X-API-Key`` (constant-time compare), a body limit that answers 413
before reading, a limit on the decompressed size, and JSON errors with a ``detail``. A request that
cannot be decoded is refused whole (400: Prometheus does not resend it); a sample that cannot be used
is dropped and counted, so one bad sample never costs the rest of its batch. While Kafka is away
the publisher buffers; once its buffer would overflow, pushes get 503 with ``Retry-After``, which
every one of these senders retries, so the data waits at the sender instead of being dropped here.
"""

from __future__ import annotations

import hmac
import logging
import uuid
import zlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from forewarn import __version__
from forewarn.body_limit import BodyLimit
from forewarn.collect.alerts import AlertmanagerWebhook, detections_from_webhook
from forewarn.collect.converted import Converted, NameFilter
from forewarn.collect.exponential_buckets import QuantileReaders
from forewarn.collect.histogram_buckets import BucketQuantiles
from forewarn.collect.histogram_pairs import HistogramPairs
from forewarn.collect.interval_means import IntervalMeans
from forewarn.collect.metric_types import MetricTypes
from forewarn.collect.otlp import (
    OtlpError,
    decode_export_request,
    decode_export_request_json,
    samples_from_export_request,
)
from forewarn.collect.remote_write import (
    WriteRequestError,
    decode_write_request,
    learn_metadata,
    samples_from_write_request,
)
from forewarn.collect.remote_write_v2 import V2_MESSAGE, V2Request, Written, as_v1
from forewarn.events import MetricSample
from forewarn.kafka.publisher import Publisher
from forewarn.security_headers import SecurityHeaders
from forewarn.settings import Settings

__all__ = ["ReceiverMetrics", "create_receiver"]

log = logging.getLogger(__name__)
PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class ReceiverMetrics:
    """The receiver's families, on an injected registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "forewarn_receiver_events_total", "Events published, by input.", ["source"], registry=registry
        )
        self.dropped = Counter(
            "forewarn_receiver_dropped_total",
            "Samples or alerts received but not published, by input and reason.",
            ["source", "reason"],
            registry=registry,
        )
        self.requests = Counter(
            "forewarn_receiver_requests_total",
            "Push requests, by input and status.",
            ["source", "status"],
            registry=registry,
        )


def create_receiver(
    settings: Settings,
    publisher: Publisher,
    *,
    registry: CollectorRegistry | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> FastAPI:
    """Build the receiver app publishing through ``publisher`` (Kafka in production)."""
    config = settings.receiver
    registry = registry if registry is not None else CollectorRegistry()
    metrics = ReceiverMetrics(registry)
    keys = tuple(k.get_secret_value().encode() for k in config.keys)
    keep = NameFilter(config.metric_names)
    types = MetricTypes(config.counter_suffixes)  # what remote_write's metadata said, per family
    means = IntervalMeans()  # each OTLP cumulative histogram's last point, for its interval mean
    pairs = HistogramPairs(types)  # each remote-written histogram's last scrape, for its interval mean
    # and each histogram's buckets, for its quantiles (none asked for: the buckets are read as sent)
    quantiles = config.histogram_quantiles
    buckets = BucketQuantiles(quantiles) if quantiles else None
    points = QuantileReaders(quantiles) if quantiles else None
    native = QuantileReaders(quantiles) if quantiles else None  # remote-written native histograms
    app = FastAPI(title="forewarn receiver", version=__version__, docs_url=None, redoc_url=None)
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    app.add_middleware(SecurityHeaders, private_prefixes=())

    def authorised(request: Request) -> None:
        if config.allow_anonymous:
            return
        if not keys:
            raise HTTPException(401, "no receiver.keys configured: set FOREWARN_RECEIVER__KEYS")
        presented = _presented_key(request)
        if presented is None or not any(hmac.compare_digest(k, presented.encode()) for k in keys):
            raise HTTPException(
                401, "missing or unknown key (Authorization: Bearer KEY)", {"WWW-Authenticate": "Bearer"}
            )

    def publish(source: str, converted: Converted) -> None:
        waiting = _waiting(publisher)
        if waiting is not None and waiting + len(converted.events) > config.buffer_size:
            # Refuse rather than drop: every sender here retries a 503 and keeps the data meanwhile
            # (Prometheus in its WAL), while the buffer would drop its oldest events.
            raise HTTPException(
                503, f"Kafka is not taking events ({waiting} waiting): retry later", {"Retry-After": "5"}
            )
        for event in converted.events:
            if isinstance(event, MetricSample):
                publisher.publish(settings.topics.metrics, event.key(), event.to_json_bytes())
            else:  # detections are keyed by service, as the dataflow keys its own
                publisher.publish(settings.topics.detections, event.service, event.to_json_bytes())
        metrics.events.labels(source=source).inc(len(converted.events))
        for reason, count in converted.dropped.items():
            metrics.dropped.labels(source=source, reason=reason).inc(count)

    @app.post("/api/v1/write", status_code=204, dependencies=[Depends(authorised)])
    async def remote_write(request: Request) -> Response:
        encoding = request.headers.get("content-encoding", "snappy").lower()
        if encoding != "snappy":
            raise HTTPException(415, f"Content-Encoding {encoding!r}: remote_write bodies are snappy")
        message = _proto_message(request.headers.get("content-type", ""))
        if message not in ("", V1_MESSAGE, V2_MESSAGE):
            # remote write 2.0 asks a receiver to refuse a message it does not read with a 415
            raise HTTPException(
                415, f"{message}: this receiver reads remote write {V1_MESSAGE} (1.0) and {V2_MESSAGE} (2.0)"
            )
        body = await request.body()
        written: Written | None = None
        try:
            if message == V2_MESSAGE:
                v2 = decode_write_request(body, max_decoded_bytes=config.max_decoded_bytes, message=V2Request)
                decoded, written = as_v1(v2, types)  # learns each series' type
            else:
                decoded = decode_write_request(body, max_decoded_bytes=config.max_decoded_bytes)
                learn_metadata(decoded, types)
        except OverflowError as exc:
            raise HTTPException(413, str(exc)) from None
        except WriteRequestError as exc:
            raise HTTPException(400, str(exc)) from None
        publish(
            "remote_write",
            samples_from_write_request(
                decoded,
                service_labels=config.service_labels,
                default_service=config.default_service,
                keep=keep,
                is_cumulative=types.is_cumulative,
                pairs=pairs,
                buckets=buckets,
                keep_buckets=config.keep_buckets,
                native=native,
            ),
        )
        return Response(status_code=204, headers=written.headers() if written is not None else None)

    @app.post("/v1/metrics", dependencies=[Depends(authorised)])
    async def otlp_metrics(request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in (PROTOBUF, JSON):
            raise HTTPException(415, f"Content-Type {content_type!r}: send OTLP as {PROTOBUF} or {JSON}")
        body = await request.body()
        encoding = request.headers.get("content-encoding", "identity").lower()
        if encoding == "gzip":
            body = _gunzip(body, config.max_decoded_bytes)
        elif encoding != "identity":
            raise HTTPException(415, f"Content-Encoding {encoding!r}: send gzip or none")
        try:
            decoded = (
                decode_export_request(body) if content_type == PROTOBUF else decode_export_request_json(body)
            )
        except OtlpError as exc:
            raise HTTPException(400, str(exc)) from None
        converted = samples_from_export_request(
            decoded,
            service_labels=config.service_labels,
            default_service=config.default_service,
            keep=keep,
            now=now,
            means=means,
            quantiles=points,
        )
        publish("otlp", converted)
        answer = ExportMetricsServiceResponse()
        rejected = sum(converted.dropped.values())
        if rejected:
            answer.partial_success.rejected_data_points = rejected
            answer.partial_success.error_message = "dropped: " + ", ".join(
                f"{reason} {count}" for reason, count in sorted(converted.dropped.items())
            )
        if content_type == JSON:  # answered in the request's encoding, as OTLP/HTTP requires
            return JSONResponse(json_format.MessageToDict(answer))
        return Response(answer.SerializeToString(), media_type=PROTOBUF)

    @app.post("/alertmanager/webhook", dependencies=[Depends(authorised)])
    async def alertmanager(request: Request) -> dict[str, int]:
        body = await request.body()
        try:
            webhook = AlertmanagerWebhook.model_validate_json(body)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"]) or "body"
            raise HTTPException(
                422, f"not an Alertmanager webhook (version 4): {where}: {first['msg']}"
            ) from None
        converted = detections_from_webhook(
            webhook, service_labels=config.service_labels, default_service=config.default_service, now=now
        )
        publish("alertmanager", converted)
        return {"detections": len(converted.events), "dropped": sum(converted.dropped.values())}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.middleware("http")
    async def count(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        source = _SOURCES.get(request.url.path)
        if source is not None:
            metrics.requests.labels(source=source, status=str(response.status_code)).inc()
        return response

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        return JSONResponse({"detail": error.detail}, status_code=error.status_code, headers=error.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        ident = uuid.uuid4().hex[:16]
        log.error("request %s: %s %s failed", ident, request.method, request.url.path, exc_info=error)
        return JSONResponse({"detail": f"internal error (request id {ident})"}, status_code=500)

    return app


V1_MESSAGE = "prometheus.WriteRequest"


def _proto_message(content_type: str) -> str:
    """The ``proto=`` parameter of a remote-write Content-Type ("" when absent, as 1.0 senders send)."""
    for parameter in content_type.split(";")[1:]:
        key, _, value = parameter.strip().partition("=")
        if key.strip().lower() == "proto":
            return value.strip().strip('"')
    return ""


_SOURCES = {"/api/v1/write": "remote_write", "/v1/metrics": "otlp", "/alertmanager/webhook": "alertmanager"}


def _waiting(publisher: Publisher) -> int | None:
    """Events the publisher holds unsent, when it can say (``KafkaPublisher.stats``)."""
    stats = getattr(publisher, "stats", None)
    if stats is None:
        return None
    current = stats()
    return int(current.buffered + current.in_flight)


def _presented_key(request: Request) -> str | None:
    """``X-API-Key`` first, else the token of ``Authorization: Bearer`` (as ``forewarn api`` reads them)."""
    header = request.headers.get("x-api-key")
    if header:
        return header
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _gunzip(body: bytes, limit: int) -> bytes:
    """Inflate a gzip body, refusing (413) one that grows past ``limit`` bytes before it is done."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        raw = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise HTTPException(400, f"body is not gzip: {exc}") from None
    if len(raw) > limit or inflater.unconsumed_tail:
        raise HTTPException(413, f"body decompresses past the {limit} bytes limit")
    return raw
