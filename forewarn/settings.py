"""One settings object for every knob in forewarn.

Why one class: operators configure a streaming system from three places (defaults, a file checked
into their ops repo, and environment variables injected by the orchestrator) and need one
precedence rule for all of them: explicit arguments > ``FOREWARN_*`` environment variables >
config file (YAML or TOML, named by ``FOREWARN_CONFIG``) > defaults.

Nested fields use ``__`` in environment variables, e.g. ``FOREWARN_KAFKA__BOOTSTRAP_SERVERS``.

Why strict: a misspelt key (``interval_secs``) or mode (``autoo``) that is silently ignored runs
production on a default nobody chose, so unknown keys and values outside an enum are errors that
name the file, the line, the key and (for an enum) the allowed values. Secrets are ``SecretStr``:
they print as ``**********`` wherever settings are shown or logged.
"""

from __future__ import annotations

import functools
import os
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    SerializationInfo,
    ValidationError,
    create_model,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from forewarn.config_file import ConfigFileError, describe, load_mapping
from forewarn.events import Severity

CONFIG_ENV_VAR = "FOREWARN_CONFIG"

# The healing executor's modes, strictest first: the effective mode is the strictest of the global
# one and a policy's own (forewarn.healing.config orders them by this).
HealingMode = Literal["off", "dry-run", "shadow", "approve", "auto"]
# Which IP addresses incident reports redact before a prompt leaves the machine.
IpRedaction = Literal["all", "public", "off"]
# How clients reach Kafka: TLS or not, SASL authentication or not (Kafka's own names).
KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
KafkaSaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


REVEAL_SECRETS = "reveal_secrets"


def _secret_json(value: SecretStr, info: SerializationInfo) -> str:
    return value.get_secret_value() if (info.context or {}).get(REVEAL_SECRETS) else str(value)


# A secret prints as ********** (repr, str, JSON dumps such as ``forewarn config show``). A dump for a
# config file that another process reads back passes ``context={"reveal_secrets": True}``.
Secret = Annotated[SecretStr, PlainSerializer(_secret_json, return_type=str, when_used="json")]

# logging's level names; "debug" is accepted and stored as "DEBUG", as the commands always upper-cased it.
LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_upper)]


def cache_dir() -> Path:
    """Where slow builds (venv, Kafka jars, llama-server) are cached, outside any clone."""
    root = os.environ.get("FOREWARN_CACHE_DIR")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "forewarn"


class _Section(BaseModel):
    """A section of the settings: a key it does not know is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class TopicSettings(_Section):
    """Kafka topic names. Every producer keys by service (or service/series) so order holds per key."""

    probes: str = "forewarn.probes"
    logs: str = "forewarn.logs"
    metrics: str = "forewarn.metrics"
    detections: str = "forewarn.detections"
    dead_letter: str = "forewarn.dead-letter"
    forecasts: str = "forewarn.forecasts"
    incidents: str = "forewarn.incidents"
    actions: str = "forewarn.actions"
    log_templates: str = "forewarn.log-templates"  # per-service template digests, dataflow -> responder

    def inputs(self) -> list[str]:
        """Topics the dataflow consumes."""
        return [self.probes, self.logs, self.metrics]

    def all(self) -> list[str]:
        return [
            self.probes,
            self.logs,
            self.metrics,
            self.detections,
            self.dead_letter,
            self.forecasts,
            self.incidents,
            self.actions,
            self.log_templates,
        ]


class KafkaSettings(_Section):
    """Where the broker is, and how the local one is started by ``forewarn kafka up``."""

    bootstrap_servers: str = "127.0.0.1:9092"
    client_id: str = "forewarn"
    consumer_group: str = "forewarn-dataflow"
    # Local broker (``forewarn kafka up``): version of org.apache.kafka:kafka_2.13 from Maven Central.
    version: str = "4.1.0"
    controller_port: int = Field(9093, ge=1, le=65535)
    data_dir: Path | None = None  # default: <cache>/kafka-data
    start_timeout_seconds: float = Field(90.0, gt=0)
    # The topics forewarn creates when they are missing (`forewarn run`, `forewarn respond`, `forewarn
    # kafka topics`): partitions (the ceiling of the dataflow's and responder's parallelism), copies of
    # each partition (3 on a production cluster) and topic configs such as min.insync.replicas.
    # Existing topics are never changed: a mismatch is logged.
    topic_partitions: int = Field(3, ge=1, le=10_000)
    topic_replication_factor: int = Field(1, ge=1, le=32)
    topic_config: dict[str, str] = Field(default_factory=dict)
    # How every client (kafka-python producers, consumers and admin; Bytewax's librdkafka source
    # and sinks) talks to the broker; forewarn.kafka.client_config maps these to each library.
    security_protocol: KafkaSecurityProtocol = "PLAINTEXT"
    ssl_ca_file: Path | None = None  # PEM CAs that signed the broker's certificate; None = system store
    ssl_cert_file: Path | None = None  # PEM client certificate (mutual TLS)
    ssl_key_file: Path | None = None  # its private key, PEM
    ssl_key_password: Secret | None = None  # when that key is encrypted
    sasl_mechanism: KafkaSaslMechanism = "SCRAM-SHA-512"
    sasl_username: str = ""
    sasl_password: Secret = SecretStr("")

    @model_validator(mode="after")
    def _security_is_consistent(self) -> Self:
        """Options the chosen protocol would silently ignore are errors, as unknown keys are."""
        protocol = self.security_protocol
        tls = protocol in ("SSL", "SASL_SSL")
        sasl = protocol.startswith("SASL_")
        tls_options = (self.ssl_ca_file, self.ssl_cert_file, self.ssl_key_file, self.ssl_key_password)
        if not tls and any(option is not None for option in tls_options):
            raise ValueError(f"ssl_* options need security_protocol SSL or SASL_SSL, not {protocol}")
        if (self.ssl_key_file is None) != (self.ssl_cert_file is None):
            raise ValueError("ssl_cert_file and ssl_key_file go together (a client certificate, its key)")
        has_password = bool(self.sasl_password.get_secret_value())
        if sasl and not (self.sasl_username and has_password):
            raise ValueError(f"security_protocol {protocol} needs sasl_username and sasl_password")
        if not sasl and (self.sasl_username or has_password):
            raise ValueError(f"sasl_username/sasl_password need security_protocol SASL_SSL, not {protocol}")
        return self


class ProbeTarget(_Section):
    """One health endpoint to probe, with what it takes to reach it.

    ``body``: ``auto`` grades a JSON object's ``status`` when there is one and the HTTP code otherwise
    (a plain ``200 OK`` from ``/healthz`` is healthy); ``json`` insists on a JSON object with a known
    ``status`` (a maintenance page served with 200 is then a failure). TLS options are per target
    because an internal CA or a client certificate belongs to one service, not to the prober.
    """

    service: str
    url: str
    body: Literal["auto", "json"] = "auto"
    headers: dict[str, str] = Field(default_factory=dict)
    bearer_token: Secret | None = None  # sent as "Authorization: Bearer ..."; never logged
    ca_bundle: Path | None = None  # PEM file of CAs to trust instead of the system store
    client_cert: Path | None = None  # PEM client certificate (mutual TLS)
    client_key: Path | None = None  # its private key, when not in the certificate file
    verify_tls: bool = True  # False only for a lab: the answer could come from anyone

    def tls_key(self) -> tuple[str | None, str | None, str | None, bool]:
        """Targets with the same TLS needs share one HTTP client (connection pools are per client)."""
        paths = (self.ca_bundle, self.client_cert, self.client_key)
        ca, cert, key = (str(p) if p is not None else None for p in paths)
        return ca, cert, key, self.verify_tls

    def request_headers(self) -> dict[str, str]:
        headers = {"accept": "application/json, text/plain;q=0.9, */*;q=0.5", **self.headers}
        if self.bearer_token is not None:
            headers["authorization"] = f"Bearer {self.bearer_token.get_secret_value()}"
        return headers


class ProbeSettings(_Section):
    """The probe runner: how often, how patient, and how much to buffer while Kafka is away."""

    base_url: str = "http://127.0.0.1:8080"
    services: list[str] = Field(
        default_factory=lambda: ["auth", "database", "email", "sms", "payments", "overall"]
    )
    # Explicit targets override base_url/services when given.
    targets: list[ProbeTarget] = Field(default_factory=list)
    interval_seconds: float = Field(120.0, ge=1.0, le=86400.0)
    timeout_seconds: float = Field(5.0, gt=0, le=300)
    jitter_fraction: float = Field(0.1, ge=0.0, le=0.5)
    retries: int = Field(1, ge=0, le=10)
    retry_backoff_seconds: float = Field(0.2, ge=0.0, le=60)
    buffer_size: int = Field(10_000, ge=1)
    # Prometheus /metrics on 127.0.0.1: None = no server, 0 = a free port (logged at start).
    metrics_port: int | None = Field(None, ge=0, le=65535)

    def resolved_targets(self) -> list[ProbeTarget]:
        if self.targets:
            return list(self.targets)
        base = self.base_url.rstrip("/")
        # The base_url convention is forewarn's own health contract: JSON with a status, graded strictly.
        return [ProbeTarget(service=s, url=f"{base}/api/health/{s}", body="json") for s in self.services]


class IngestSettings(_Section):
    """Validation limits: anything outside them goes to the dead-letter topic with the reason."""

    max_payload_bytes: int = Field(64 * 1024, ge=256)
    max_future_skew_seconds: float = Field(300.0, ge=0)
    max_event_age_seconds: float = Field(30 * 86400.0, gt=0)


class DetectorSettings(_Section):
    """The online detector run per series by the dataflow."""

    # Latency and metric series: "likelihood_cad" (the default: models/ensemble.py, the larger of the
    # likelihood score and 0.9 x the contextual one, up only for latency; NAB online 67.1, above
    # "likelihood" on the held-out files and under gaps, up to ~17 KB per series, CAD's memory compiled
    # C on first use: FOREWARN_CAD_NATIVE=0 or no compiler runs it on numpy, same results, slower),
    # "likelihood" (models/likelihood.py, NAB 57.5, reports each excursion once, <2 KB per series and
    # the least CPU: the choice for very many series on little CPU), "likelihood_record"
    # (models/record.py, the likelihood detector plus Numenta's record rule: a value 5 % of the span
    # past every value seen scores 1.0; NAB online 59.7 but lower than "likelihood" on the held-out
    # files, bench/README.md), "cad" (models/cad.py, the contextual detector alone: also flags
    # ordinary values in an unseen order, NAB 65 with its range learned online; it has no direction,
    # so a latency that suddenly drops can be reported too) or "zscore" (models/zscore.py, a plain EW
    # z-score: simple, but NAB 0.0). Failure and log-error series always use the EW failure rate.
    model: Literal["likelihood", "likelihood_record", "cad", "likelihood_cad", "zscore"] = "likelihood_cad"
    z_threshold: float = Field(4.0, gt=0)
    alpha: float = Field(0.05, gt=0, lt=1)
    warmup: int = Field(10, ge=2)
    failure_rate_threshold: float = Field(0.5, gt=0, le=1)
    failure_alpha: float = Field(0.3, gt=0, lt=1)
    # While a series stays anomalous, repeat its detection at most this often (event time), plus on
    # escalation to a higher severity: a 10-minute outage is a handful of detections, not 600.
    realert_seconds: float = Field(300.0, ge=0)
    # With model "zscore", latency and metric series alert only after this many anomalous observations
    # in a row, so one slow probe (a GC pause, a busy host) is not an incident. The likelihood and cad
    # models weigh evidence over time themselves and alert on their first crossing, as failure series do.
    persistence: int = Field(3, ge=1, le=100)


class PipelineSettings(_Section):
    """The Bytewax dataflow run by ``forewarn run``."""

    # Without a recovery dir, where to start reading the input topics: "latest" watches from now
    # (a restart does not replay history), "earliest" replays what the topics still hold.
    start_from: Literal["latest", "earliest"] = "latest"
    # Bytewax recovery (SQLite snapshots of detector state and input offsets), so a crash or a restart
    # resumes where the flow was instead of losing state or input. On by default (``--no-recovery``
    # turns it off). Its cost grows with the series touched per snapshot interval (bench/README.md):
    # raise snapshot_interval_seconds for very many busy series.
    recovery: bool = True
    # Where its store lives. Default: <cache>/recovery/<key>, the key naming the Kafka cluster (its
    # id), the input topics and the member count, since the snapshots hold input offsets that mean
    # nothing on another cluster. A member of a cluster across hosts needs an explicit directory.
    recovery_dir: Path | None = None
    # Default stores (never a given recovery_dir) that no run has written for this many days are
    # removed when a dataflow starts: each new Kafka cluster, topic set or worker count starts a new
    # one, and old ones would pile up in the cache. 7 = Kafka's default retention, after which the
    # offsets a store holds are gone from the topics anyway. 0 keeps every store.
    recovery_max_age_days: float = Field(7.0, ge=0)
    # Without a recovery dir: how long a Bytewax epoch lasts (nothing else depends on it then).
    epoch_interval_seconds: float = Field(10.0, gt=0)
    # With a recovery dir, Bytewax snapshots at each epoch's end, so this is the epoch (``-s`` of
    # ``python -m bytewax.run``). A crash replays the input since the last snapshot, and before the
    # first one everything read since start: with 10 s, a kill -9 in the first seconds re-read and
    # re-emitted the whole backlog. Short, because a snapshot costs per series touched in the
    # interval, not per event: measured 5-13 ms per hundred likelihood detectors (~1.1 KB pickles,
    # one SQLite commit), so once a second is about 1 % of a core per hundred series and bounds a
    # replay to about a second of input. Raise it for many thousands of busy series.
    snapshot_interval_seconds: float = Field(1.0, gt=0)
    # How long a superseded snapshot is kept (``-b``): 0 deletes it at once; set it to the period at
    # which the recovery dir is backed up, so a restored backup still finds the snapshots it names.
    backup_interval_seconds: float = Field(0.0, ge=0)
    batch_size: int = Field(1000, ge=1)
    # How `forewarn run --workers N` splits the work. "shards" (default): N independent processes,
    # process i reading the partitions p with p % N == i, nothing exchanged between them. Sound while
    # every event of a series arrives on one partition, which in-order delivery needs anyway: it holds
    # for messages keyed as forewarn's producers key them (the service; metrics service/name), and
    # forewarn_pipeline_unkeyed_events_total counts those that are not. "cluster": one Bytewax
    # cluster, every series routed to its worker over the members' connections whatever partition it
    # came from; that exchange made 2 processes 1.05-1.2x one, against 1.6-2.0x for shards
    # (bench/README.md).
    scale_out: Literal["shards", "cluster"] = "shards"
    # Allocations between two passes of Python's cyclic garbage collector in `forewarn run` (Python's
    # default is 700). The flow allocates a few short-lived, acyclic objects per event, freed by
    # reference counting, so frequent passes only re-scan live state: per-series detectors made the
    # full passes cost ~15 % at 100k series in a py-spy profile (bench/README.md). 0 keeps Python's.
    gc_threshold: int = Field(50_000, ge=0)
    # Per-series state (a detector, a forecaster, a service's log miner) silent this long (wall clock)
    # is dropped, so memory stays bounded even if producers keep inventing names; a series that comes
    # back starts over with a fresh warm-up.
    series_idle_seconds: float = Field(86400.0, gt=0)
    # At most this many series (labels included in a series' identity) per dataflow process; a new
    # one past it is dropped and counted (forewarn_pipeline_series_dropped_total) unless the least
    # recently seen series has been idle for series_idle_seconds. 100k: `forewarn bench pipeline`
    # measured ~4 KB of memory per series, so the bound keeps a process near half a GB. None = no bound.
    max_series: int | None = Field(100_000, ge=1)
    # How often (event time, or wall clock once a service goes quiet) a service's log template digest
    # is published for the responder: short, so an incident gets its log evidence within seconds.
    log_digest_seconds: float = Field(5.0, gt=0)
    # `forewarn run -w N`: on a stop, how long the supervisor waits for its processes after passing
    # on the signal, and again after SIGTERM, before it escalates (SIGTERM, then SIGKILL).
    stop_grace_seconds: float = Field(10.0, gt=0)

    @property
    def series_idle(self) -> timedelta:
        return timedelta(seconds=self.series_idle_seconds)


class MetricsSettings(_Section):
    """Where the ``/metrics`` endpoints listen: the dataflow's port, and every process's address.

    Why one address for all: a Prometheus on another host must reach the dataflow, the probe runner
    and the responder alike; ``127.0.0.1`` (the default) keeps them private, ``0.0.0.0`` (or ``::``)
    or one interface's address exposes them.
    """

    bind_address: str = "127.0.0.1"
    port: int = Field(9108, ge=0, le=65535)

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "host" in data:
            raise ValueError("metrics.host is now metrics.bind_address")
        return data


class DemoSettings(_Section):
    """The demo target app (examples/musobuddy) and the ``forewarn demo`` run."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    duration_seconds: float = Field(150.0, gt=0)
    probe_interval_seconds: float = Field(1.0, ge=1.0)


class KubernetesSettings(_Section):
    """How the Kubernetes actions reach the API server (``pip install forewarn[kubernetes]``)."""

    # A kubeconfig file; null = the in-cluster service account when running in a pod, else ~/.kube/config.
    kubeconfig: Path | None = None
    context: str | None = None  # a kubeconfig context; null = its current-context


class ActionSettings(_Section):
    """What the generic actions may touch; kept out of the healing YAML so a policy cannot widen it.

    Why here: a policy names a command, a webhook or a unit, but whoever deploys forewarn decides which
    executables may run at all and holds the webhook secrets (as environment variables, never in YAML).
    """

    # Executables the run-command action may start (absolute paths; symlinks resolved). Empty: none.
    command_allowlist: list[Path] = Field(default_factory=list)
    # HMAC-SHA256 secrets of the signed-webhook action, by name; a policy step names one (`secret: ops`).
    webhook_secrets: dict[str, Secret] = Field(default_factory=dict)
    systemctl: str = "systemctl"  # the systemctl executable (a name is looked up on PATH)
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)


class HealingSettings(_Section):
    """The healing executor: where its state lives, which config it loads, how it reaches the target."""

    # off | dry-run | shadow | approve | auto; the stricter of this and a policy's own mode wins.
    mode: HealingMode = "dry-run"
    state_dir: Path | None = None  # default: <cache>/healing (audit log, idempotency/guard state)
    audit_log: Path | None = None  # default: <state_dir>/audit.jsonl
    kill_switch_file: Path | None = None  # default: <state_dir>/KILL_SWITCH (exists = no actions)
    config: Path | None = None  # policies/guards/dependencies YAML; default: the shipped one
    admin_base_url: str = "http://127.0.0.1:8080"
    admin_key_id: str = "forewarn"
    # Signs admin API calls (``forewarn.admin_signing``): an Ed25519 private key, ``ed25519-private:
    # <b64>`` (``forewarn keys admin``), here or as the first key in ``admin_private_key_file`` (that
    # text or a PKCS#8 PEM); the admin server holds only the public half. ``admin_secret`` is the
    # older HMAC scheme, for targets that still verify it. None of the three = calls are unsigned.
    admin_private_key: Secret = SecretStr("")
    admin_private_key_file: Path | None = None
    admin_secret: Secret = SecretStr("")
    actions: ActionSettings = Field(default_factory=ActionSettings)
    # PEM CAs to trust for an https admin URL (a private CA) instead of the system store.
    admin_ca_bundle: Path | None = None

    @model_validator(mode="after")
    def _one_admin_key(self) -> HealingSettings:
        given = [
            name
            for name, value in (
                ("admin_private_key", bool(self.admin_private_key.get_secret_value())),
                ("admin_private_key_file", self.admin_private_key_file is not None),
                ("admin_secret", bool(self.admin_secret.get_secret_value())),
            )
            if value
        ]
        if len(given) > 1:
            raise ValueError(f"healing: set one admin signing key, not {' and '.join(given)}")
        return self


class StoreSettings(_Section):
    """The state store the API reads (filled by ``forewarn.store.sink``)."""

    url: str | None = None  # SQLAlchemy URL; default: SQLite (WAL) at <cache>/state.db
    retention_days: float = Field(30.0, gt=0)
    consumer_group: str = "forewarn-store"


class ApiSettings(_Section):
    """``forewarn api``: where it listens and who may call it (keys via env/config, never in code)."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    # Each a key or its hash, ``sha256:<hex>`` (``forewarn keys hash``); only hashes are kept in memory.
    read_keys: list[Secret] = Field(default_factory=list)
    admin_keys: list[Secret] = Field(default_factory=list)
    # YAML with ``read:``/``admin:`` lists (keys or sha256:<hex>), re-read when it changes: rotation
    # without a restart. Its keys add to the two lists above.
    keys_file: Path | None = None
    allow_anonymous_read: bool = False
    # HTTPS: both set = uvicorn serves TLS with this PEM certificate (chain) and private key.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    max_page_size: int = Field(1000, ge=1)
    # Request bodies over this are refused with 413 before they are read: the largest body the API
    # takes (a manual trigger's params) is a few KiB, so 64 KiB is room to spare, while a caller can
    # no longer make the process buffer megabytes or write them into the audit trail.
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    # Per API key (and per client address for failed keys): ``rate_limit_burst`` calls at once, then
    # ``rate_limit_per_minute``; past that 429 with Retry-After. Dashboards polling every few seconds
    # stay far below it; a runaway script or a key-guessing loop does not.
    rate_limit_per_minute: float = Field(600.0, gt=0)
    rate_limit_burst: int = Field(120, ge=1)

    @model_validator(mode="after")
    def _tls_pair(self) -> ApiSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("api.tls_cert_file and api.tls_key_file go together: set both or neither")
        return self

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None


class SecuritySettings(_Section):
    """Encryption at rest (``forewarn.field_crypto``): the state store's payloads, the audit log's
    details, the healing executor's SQLite state and the dataflow's recovery snapshots.

    Keys are 32 random bytes in URL-safe base64 (``forewarn keys storage-key`` makes one). The first
    key seals new values, every key listed opens what it sealed: to rotate, put the new key first,
    run ``forewarn store rekey`` and ``forewarn heal rekey``, then drop the old one. No key at all =
    plain storage, as before.
    """

    storage_keys: list[Secret] = Field(default_factory=list)
    # One key per line, newest first (after storage_keys); keeps keys out of the config file.
    storage_key_file: Path | None = None

    def encrypts(self) -> bool:
        return bool(self.storage_keys) or self.storage_key_file is not None


class ReceiverSettings(_Section):
    """``forewarn receive``: Prometheus remote_write, OTLP/HTTP metrics and Alertmanager webhooks in.

    Why its own process and section: it is a write path that outside systems push to, so it scales,
    fails and is exposed apart from the read-only API, and needs Kafka but no store.
    """

    host: str = "127.0.0.1"
    port: int = Field(9201, ge=0, le=65535)
    # Accepted as "Authorization: Bearer KEY" (Prometheus' authorization, Alertmanager's http_config,
    # OTLP exporters' headers) or "X-API-Key: KEY". No key and no allow_anonymous: every push is 401.
    keys: list[Secret] = Field(default_factory=list)
    allow_anonymous: bool = False
    # Compressed body limit (413 past it). Prometheus sends at most a few hundred KiB per request.
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    # Limit after snappy/gzip decompression (413 past it): a small body must not expand without bound.
    max_decoded_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    # The first of these labels (Prometheus) that a series carries names its service; OTLP uses the
    # resource's service.name first. Neither: default_service.
    service_labels: list[str] = Field(default_factory=lambda: ["service", "job"])
    default_service: str = Field("unlabelled", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    # Regexes (full match) of metric names to keep; empty keeps all. Prefer Prometheus'
    # write_relabel_configs, which keeps the rest off the wire too.
    metric_names: list[str] = Field(default_factory=list)
    # remote_write names ending so are counters (their rate is modelled) until Prometheus' metadata
    # says a family's type; [] leaves it to the metadata. OTLP says it per metric and needs neither.
    counter_suffixes: list[str] = Field(default_factory=lambda: ["_total"])
    # Histograms (classic, native and OTLP exponential buckets alike): the quantiles read from the
    # buckets between two scrapes or points, as PromQL's histogram_quantile (<family>_p99), and these
    # of an OTLP summary's own quantiles. remote_write's classic buckets are then dropped unless
    # keep_buckets: one by one they are a dozen rate series, none the p99.
    histogram_quantiles: list[Annotated[float, Field(gt=0, lt=1)]] = Field(default_factory=lambda: [0.99])
    keep_buckets: bool = False
    buffer_size: int = Field(100_000, ge=1)  # events held while Kafka is away (oldest dropped first)


class ServiceBusiness(_Section):
    """What one service's downtime costs and its SLO targets (None: the default)."""

    cost_per_minute: float = Field(0.0, ge=0)
    users_per_minute: float = Field(0.0, ge=0)  # customers affected per minute of downtime
    availability_target: float | None = Field(None, gt=0, lt=1)
    latency_threshold_ms: float | None = Field(None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        if isinstance(data, dict) and "depends_on" in data:
            raise ValueError("depends_on moved to the top-level `dependencies:` section (one map for all)")
        return data


def _musobuddy_services() -> dict[str, ServiceBusiness]:
    return {
        "database": ServiceBusiness(cost_per_minute=20.0, users_per_minute=40.0),
        "auth": ServiceBusiness(cost_per_minute=15.0, users_per_minute=30.0),
        "email": ServiceBusiness(cost_per_minute=2.0, users_per_minute=5.0),
        "sms": ServiceBusiness(cost_per_minute=1.0, users_per_minute=3.0),
        "payments": ServiceBusiness(cost_per_minute=50.0, users_per_minute=10.0),
        "overall": ServiceBusiness(cost_per_minute=0.0),
    }


def musobuddy_dependencies() -> dict[str, list[str]]:
    """The demo's map: auth reads the database, payments need both, "overall" checks everything."""
    return {
        "auth": ["database"],
        "payments": ["auth", "database"],
        "overall": ["auth", "database", "email", "sms", "payments"],
    }


def _check_dependencies(value: dict[str, list[str]]) -> dict[str, list[str]]:
    """A service that (indirectly) depends on itself has no root cause: refuse the cycle, naming it."""
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            raise ValueError(f"dependency cycle: {' -> '.join([*trail, node])}")
        state[node] = 1
        for dep in value.get(node, []):
            visit(dep, [*trail, node])
        state[node] = 2

    for name in value:
        visit(name, [])
    return value


# service -> the services it depends on. One map read by the incident grouper (root cause, what joins
# an incident), the healing executor (root first, dependents held back) and the API's service graph.
Dependencies = Annotated[dict[str, list[str]], AfterValidator(_check_dependencies)]


class SloSettings(_Section):
    """Availability and latency SLOs per service from probe results, and downtime cost (issue 7)."""

    availability_target: float = Field(0.999, gt=0, lt=1)
    latency_target: float = Field(0.99, gt=0, lt=1)  # share of probes faster than the threshold
    latency_threshold_ms: float = Field(1000.0, gt=0)
    window_days: float = Field(30.0, gt=0)
    currency: str = "USD"
    services: dict[str, ServiceBusiness] = Field(default_factory=_musobuddy_services)


class ResponderSettings(_Section):
    """``forewarn respond``: detections in (exhaustion forecasts included), incidents and actions out."""

    consumer_group: str = "forewarn-responder"
    incident_window_seconds: float = Field(300.0, gt=0)
    resolve_after_seconds: float = Field(600.0, gt=0)
    tick_seconds: float = Field(1.0, gt=0)
    # Prometheus /metrics on 127.0.0.1: None = no server, 0 = a free port (logged at start).
    metrics_port: int | None = Field(None, ge=0, le=65535)


class GaugeCapacity(_Section):
    """Where an absolute gauge (bytes, connections) finds the capacity it exhausts at.

    Why: a ratio carries its capacity (1.0), but exporters report absolute amounts: bytes in use with
    the total in a label, or two metrics (node-exporter's ``node_filesystem_avail_bytes`` beside
    ``node_filesystem_size_bytes``). ``label`` reads the total from a label of the gauge's own samples
    (left out of the series' identity, so a resize does not start a new series); ``metric`` pairs the
    gauge with the last value of another metric of the same service and labels (another key of the
    same probe's details). ``measures: free`` says the gauge counts what is left: it is forecast as
    capacity - free, so "full" is when nothing is left.
    """

    label: str | None = Field(None, min_length=1, max_length=64)
    metric: str | None = Field(None, min_length=1, max_length=64)
    measures: Literal["used", "free"] = "used"

    @model_validator(mode="after")
    def _one_source(self) -> GaugeCapacity:
        if (self.label is None) == (self.metric is None):
            raise ValueError(
                "give exactly one of label (a label holding the total) or metric (a paired metric)"
            )
        return self


def _node_exporter_capacities() -> dict[str, GaugeCapacity]:
    return {
        "node_filesystem_avail_bytes": GaugeCapacity(metric="node_filesystem_size_bytes", measures="free"),
        "node_memory_MemAvailable_bytes": GaugeCapacity(metric="node_memory_MemTotal_bytes", measures="free"),
    }


class WatchdogSettings(_Section):
    """``forewarn watchdog``: forewarn watching itself, alerting around whatever part failed.

    It reads each component's ``/metrics`` heartbeat over HTTP, the consumer groups' lag and the age of
    the newest message on ``event_topics`` from Kafka, and alerts straight to a webhook and/or by
    SMTP: never through Kafka or the responder, which may be the part that failed.
    """

    interval_seconds: float = Field(15.0, gt=0)
    # component name -> its /metrics URL (it must export forewarn_heartbeat_timestamp_seconds).
    targets: dict[str, str] = Field(default_factory=dict)
    heartbeat_max_age_seconds: float = Field(60.0, gt=0)
    consumer_groups: list[str] = Field(default_factory=list)  # e.g. forewarn-responder, forewarn-store
    max_lag_messages: int = Field(1000, ge=0)
    event_topics: list[str] = Field(default_factory=list)  # e.g. forewarn.probes
    max_event_age_seconds: float = Field(300.0, gt=0)
    webhook_url: Secret = SecretStr("")  # PagerDuty Events v2 shaped trigger/resolve; empty = none
    webhook_routing_key: Secret = SecretStr("")
    email_host: str | None = None  # SMTP server for the same alerts; None = no email
    email_port: int = Field(25, ge=1, le=65535)
    email_sender: str = "forewarn-watchdog@localhost"
    email_to: list[str] = Field(default_factory=list)


class ForecastSettings(_Section):
    """Exhaustion forecasts of resource gauges (ratios such as db_pool_usage) inside the dataflow.

    ``gauges`` maps a gauge name (a numeric key of a probe's ``details`` or a metric sample's name) to
    the capacity it exhausts at; ``capacities`` names absolute gauges and where their capacity comes from
    (:class:`GaugeCapacity`). ``owners`` names the one service a gauge is attributed to when several
    health endpoints report it (the demo's ``overall`` repeats the database pool): the other copies are
    ignored, so one leak is one series, one forecast stream and one detection.
    """

    gauges: dict[str, float] = Field(
        default_factory=lambda: {"db_pool_usage": 1.0, "memory_usage": 1.0, "disk_usage": 1.0}
    )
    # Absolute gauges and where their capacity comes from (node-exporter's disk and memory by default).
    capacities: dict[str, GaugeCapacity] = Field(default_factory=_node_exporter_capacities)
    owners: dict[str, str] = Field(default_factory=lambda: {"db_pool_usage": "database"})
    horizon_seconds: float = Field(900.0, gt=0)
    emit_every_seconds: float = Field(5.0, ge=0)  # event time between two forecasts of one series
    min_breach_probability: float = Field(0.5, gt=0, le=1)
    min_confidence: float = Field(0.3, ge=0, le=1)
    # The trend must be real before it is extrapolated: slope / its standard error (a t-statistic).
    min_trend_z: float = Field(3.0, ge=0)
    halflife_seconds: float = Field(1800.0, gt=0)  # the trend's memory (event time)
    # A faster second line for the time to exhaustion only, used while it predicts better (a leak that
    # just started on a flat gauge); warnings stay on the main line. None = one line.
    fast_halflife_seconds: float | None = Field(300.0, gt=0)
    # Page-Hinkley change test (residual standard deviations of evidence) that refits the fast line
    # from where a new regime began, so a sudden leak is timed from its start. None = off.
    change_threshold: float | None = Field(5.0, gt=0)
    # A line refitted after a change that clearly crosses the capacity within this long raises P(breach):
    # a sudden race to the limit after hours of calm is warned of. None = warnings from the main line only.
    imminent_seconds: float | None = Field(300.0, gt=0)
    # P(breach) looks at most this many times the span of data seen ahead (a young gauge's line is
    # steep by chance; node-exporter's mixin extrapolates 6 h of data 24 h ahead). None = no cap.
    max_extrapolation: float | None = Field(4.0, gt=0)
    # Hourly time-of-day profile bins (24 = a daily cycle). Off by default: learned within one bin it
    # absorbs part of a fresh trend and biased the time to exhaustion low by more than its interval.
    seasonal_bins: int = Field(0, ge=0, le=168)
    critical_within_seconds: float = Field(300.0, ge=0)  # P >= 0.9 and exhaustion sooner: critical

    @model_validator(mode="after")
    def _gauge_once(self) -> ForecastSettings:
        both = sorted(set(self.gauges) & set(self.capacities))
        if both:
            raise ValueError(f"{', '.join(both)}: in both gauges (a fixed capacity) and capacities; keep one")
        return self


class LLMSettings(_Section):
    """The OpenAI-compatible endpoint and the cost rules of incident reports.

    No base_url means no LLM: every report is written by the offline reporter.
    """

    base_url: str | None = None  # e.g. http://127.0.0.1:8081/v1 (llama-server) or an OpenAI URL
    # Local servers ignore it; never logged, never sent anywhere but base_url.
    api_key: Secret = SecretStr("not-needed")
    model: str = "SmolLM2-135M-Instruct"
    timeout_seconds: float = Field(60.0, gt=0, le=600)
    max_retries: int = Field(1, ge=0, le=5)
    max_tokens: int = Field(600, ge=64, le=8192)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    # Prices in USD per 1,000 tokens (0 for a local model); the budget is counted with them.
    prompt_price_per_1k: float = Field(0.0, ge=0)
    completion_price_per_1k: float = Field(0.0, ge=0)
    monthly_budget_usd: float = Field(50.0, ge=0)
    # Graduated use: below ``economy_fraction`` of the budget every incident at or above
    # ``min_severity`` goes to the LLM; past it only critical ones; past 100% none.
    min_severity: Severity = Severity.WARNING
    economy_fraction: float = Field(0.5, gt=0, le=1)
    cache_size: int = Field(512, ge=0)
    ip_addresses: IpRedaction = "all"  # redaction of IPs in prompts: all | public | off


class Settings(BaseSettings):
    """Every knob of forewarn. See the README's Configuration section for the full table."""

    model_config = SettingsConfigDict(
        env_prefix="FOREWARN_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    probe: ProbeSettings = Field(default_factory=ProbeSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    detector: DetectorSettings = Field(default_factory=DetectorSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    demo: DemoSettings = Field(default_factory=DemoSettings)
    healing: HealingSettings = Field(default_factory=HealingSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    slo: SloSettings = Field(default_factory=SloSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    responder: ResponderSettings = Field(default_factory=ResponderSettings)
    forecast: ForecastSettings = Field(default_factory=ForecastSettings)
    dependencies: Dependencies = Field(default_factory=musobuddy_dependencies)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    receiver: ReceiverSettings = Field(default_factory=ReceiverSettings)
    watchdog: WatchdogSettings = Field(default_factory=WatchdogSettings)
    log_level: LogLevel = "INFO"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = os.environ.get(CONFIG_ENV_VAR)
        return layered_sources(settings_cls, init_settings, env_settings, Path(path) if path else None)


def layered_sources(
    settings_cls: type[BaseSettings],
    init_settings: PydanticBaseSettingsSource,
    env_settings: PydanticBaseSettingsSource,
    path: Path | None,
) -> tuple[PydanticBaseSettingsSource, ...]:
    """Arguments > environment > config file (when ``path`` is given) > defaults.

    The one ``settings_customise_sources`` body of forewarn's settings and the demo app's config.
    """
    if path is None:
        return (init_settings, env_settings)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such config file")
    return (init_settings, env_settings, ConfigFileSource(settings_cls, path))


@functools.cache
def _file_model(settings_cls: type[BaseSettings]) -> type[BaseModel]:
    """The settings' fields as a plain model: validates a file on its own, without env or defaults merged."""
    fields: dict[str, Any] = {name: (f.annotation, f) for name, f in settings_cls.model_fields.items()}
    extra = settings_cls.model_config.get("extra") or "ignore"
    return create_model(f"{settings_cls.__name__}File", __config__=ConfigDict(extra=extra), **fields)


class ConfigFileSource(PydanticBaseSettingsSource):
    """A YAML or TOML file as a settings source, checked on its own when read.

    Why check it alone: the merged settings' errors cannot tell a bad value in the file from one in
    the environment, and only the file has lines to point at. Every problem becomes one line
    (``file:line: key: problem``) of a ``ConfigFileError``, never a traceback of YAML internals.
    """

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        super().__init__(settings_cls)
        self.path = path
        self.data, lines = load_mapping(path)
        try:
            _file_model(settings_cls).model_validate(self.data)
        except ValidationError as exc:
            raise ConfigFileError(describe(exc.errors(include_url=False), str(path), lines)) from None

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.data)


def settings_problems(exc: ValidationError | ConfigFileError) -> list[str]:
    """One line per problem: a file's name its file and line, the rest come from the environment."""
    if isinstance(exc, ConfigFileError):
        return exc.problems
    return describe(exc.errors(include_url=False), "environment")


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Build settings; ``config`` names a YAML/TOML file (same as setting ``FOREWARN_CONFIG``)."""
    if config is None:
        return Settings(**overrides)
    previous = os.environ.get(CONFIG_ENV_VAR)
    os.environ[CONFIG_ENV_VAR] = str(config)
    try:
        return Settings(**overrides)
    finally:
        if previous is None:
            os.environ.pop(CONFIG_ENV_VAR, None)
        else:
            os.environ[CONFIG_ENV_VAR] = previous
