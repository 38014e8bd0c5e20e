"""``forewarn bench pipeline``: throughput, latency, state and scaling of the live dataflow.

Why one run: "end to end is N % of what Kafka gives" means something only when both figures come
from the same messages, broker and machine at the same time. One run therefore loads a workload
into Kafka, reads it back with a plain consumer (the ceiling), runs ``forewarn run`` over it with 1
and then 2 processes, runs it over 1k/10k/100k metric series for state and rate, measures
event->detection latency at a paced input rate, and the rate of our Kafka publisher.

Every step is a real part: a real broker, the real ``forewarn run`` command (as a subprocess),
its real ``/metrics``. Timing figures depend on what else runs on the machine, so the report keeps
the load average before and after.
"""

from __future__ import annotations

import math
import os
import pickle
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from forewarn.dev.bench.pipeline_load import (
    create_topics,
    detection_times,
    mixed_workload,
    produce_all,
    raw_consume,
    series_workload,
)
from forewarn.dev.bench.pipeline_run import DataflowProcess, machine_busy_seconds
from forewarn.settings import Settings, TopicSettings, load_settings

__all__ = ["PipelineBenchConfig", "print_table", "run_pipeline_bench", "speedup_ceiling"]

Advance = Callable[[float], None]


@dataclass(frozen=True)
class PipelineBenchConfig:
    """Sizes of one run; the defaults take a few minutes on the project's 2-core machine."""

    events: int = 200_000  # mixed workload for the raw / end-to-end / 1 vs 2 processes steps
    series: tuple[int, ...] = (1_000, 10_000, 100_000)
    per_series: int = 3  # samples per series in the scaling runs (at least)
    series_min_events: int = 30_000
    latency_rate: float = 10_000.0  # events/s offered in the latency step
    latency_seconds: float = 20.0  # measured part of the latency step (after a warm-up)
    latency_warmup: float = 3.0
    processes: int = 2  # compared with 1
    partitions: int = 4  # per input topic (even, so 2 processes get the same share)
    publisher_messages: int = 30_000
    state_events: int = 2_000  # events per series before its pickled state is measured
    timeout: float = 900.0  # for one dataflow run
    workdir: Path | None = None  # dataflow logs; default a temp dir


class _Steps:
    """Rich progress bars for the long steps (a disabled console makes them silent)."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("{task.description:<44}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.completed:>9,.0f}/{task.total:,.0f}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )

    @contextmanager
    def step(self, description: str, total: float) -> Iterator[Advance]:
        task = self.progress.add_task(description, total=total)
        yield lambda n: self.progress.advance(task, n)
        self.progress.update(task, completed=total)


def _topics(prefix: str, inputs: str | None = None) -> TopicSettings:
    """Every topic under ``prefix``; the input topics under ``inputs`` (shared by several runs)."""
    defaults = TopicSettings()
    named = {f: prefix + getattr(defaults, f) for f in TopicSettings.model_fields}
    if inputs is not None:
        for f in ("probes", "logs", "metrics"):
            named[f] = inputs + getattr(defaults, f)
    return TopicSettings(**named)


def _outputs(topics: TopicSettings) -> list[str]:
    return [t for t in topics.all() if t not in topics.inputs()]


def _load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def state_bytes(settings: Settings, events: int, series: int = 20) -> dict[str, int]:
    """Mean pickled state (detector + alert, what recovery stores) per series after ``events`` each.

    Run in this process through the dataflow's own engine: the state a series holds does not depend
    on Bytewax, only on the detector and how much it has learned.
    """
    import random

    from forewarn.pipeline.detection import DetectionEngine, SeriesState
    from forewarn.pipeline.observations import Observation, Signal

    engine = DetectionEngine(settings.detector, lambda: datetime.now(UTC))
    rng = random.Random(7)
    start = datetime.now(UTC) - timedelta(seconds=events)
    sizes: dict[str, int] = {}
    shapes: tuple[tuple[Signal, str, float], ...] = (
        ("latency", "latency_ms", 40.0),
        ("metric", "memory_bytes", 5e8),
        ("failure", "failure", 0.0),
    )
    for signal, feature, level in shapes:
        total = 0
        for s in range(series):
            state: SeriesState | None = None
            for i in range(events):
                value = (
                    level * (1 + 0.1 * rng.gauss(0, 1)) if signal != "failure" else float(rng.random() < 0.02)
                )
                obs = Observation(
                    f"svc{s}/{feature}", f"svc{s}", signal, feature, value, start + timedelta(seconds=i)
                )
                state = state or engine.new_state(obs)
                state, _ = engine.step(state, obs)
            assert state is not None
            total += len(pickle.dumps(state.snapshot(), protocol=pickle.HIGHEST_PROTOCOL))
        sizes[signal] = round(total / series)
    return sizes


class PipelineBench:
    """One run of every step against the broker at ``bootstrap``."""

    def __init__(self, bootstrap: str, config: PipelineBenchConfig, console: Console, workdir: Path) -> None:
        self.bootstrap = bootstrap
        self.config = config
        self.console = console
        self.steps = _Steps(console)
        self.workdir = workdir
        self.run_id = uuid.uuid4().hex[:8]

    def _dataflow(
        self, name: str, inputs: str, workers: int = 1, *, from_beginning: bool = True, scale_out: str = ""
    ) -> tuple[DataflowProcess, TopicSettings]:
        topics = _topics(f"bench.{self.run_id}.{name}.", inputs)
        create_topics(self.bootstrap, _outputs(topics), self.config.partitions)
        log = self.workdir / f"dataflow-{name}.log"
        env = {"FOREWARN_PIPELINE__SCALE_OUT": scale_out} if scale_out else None
        return DataflowProcess(
            self.bootstrap, topics, log, workers=workers, from_beginning=from_beginning, extra_env=env
        ), topics

    def _drain(
        self, name: str, inputs: str, events: int, workers: int, scale_out: str = "", series: int = 0
    ) -> tuple[Any, int]:
        """Run ``forewarn run`` over ``inputs``; (result, detections written). With ``series``, the
        run ends when that many series hold state, not only when the last event is parsed."""
        proc, topics = self._dataflow(name, inputs, workers, scale_out=scale_out)
        try:
            with self.steps.step(f"forewarn run -w {workers}: {name}", events) as advance:
                result = proc.drain(events, advance, self.config.timeout, series=series)
        finally:
            proc.stop()
        detections = raw_consume(self.bootstrap, [topics.detections]).messages
        return result, detections

    def throughput(self) -> dict[str, Any]:
        cfg = self.config
        inputs = f"bench.{self.run_id}.mix."
        topics = _topics(inputs)
        create_topics(self.bootstrap, topics.inputs(), cfg.partitions)
        messages = mixed_workload(topics, cfg.events)
        with self.steps.step("load the mixed workload (confluent producer)", cfg.events) as advance:
            produce_rate = produce_all(self.bootstrap, messages, advance)
        with self.steps.step("raw consumer, best of 2 reads", 2 * cfg.events) as advance:
            reads = []
            for _ in range(2):
                reads.append(raw_consume(self.bootstrap, topics.inputs()))
                advance(cfg.events)
        raw = max(r.per_second for r in reads)
        with self.steps.step("raw consumer + json.loads (parse-only ceiling)", cfg.events) as advance:
            parse_only = raw_consume(self.bootstrap, topics.inputs(), decode=True).per_second
            advance(cfg.events)
        one, detections_one = self._drain("one-process", inputs, cfg.events, 1)
        out: dict[str, Any] = {
            "producer_events_per_second": round(produce_rate),
            "raw_events_per_second": round(raw),
            "raw_reads_events_per_second": [round(r.per_second) for r in reads],
            "end_to_end_events_per_second": round(one.per_second),
            "ratio": round(one.per_second / raw, 4),
            # the same read with json.loads per message: no Python consumer of JSON events beats it
            "parse_only_events_per_second": round(parse_only),
            "parse_only_ratio": round(parse_only / raw, 4),
            "cpu_us_per_event_1_process": round(one.cpu_us_per_event, 1),
            "dataflow_cores_1_process": round(one.cpu_seconds / one.cpu_span, 2),
            "machine_busy_cores_1_process": round(one.machine_busy_seconds / one.cpu_span, 2),
            "detections_1_process": detections_one,
            "peak_rss_bytes_1_process": one.peak_rss_bytes,
        }
        if cfg.processes > 1:
            out.update(self._scale_out(inputs, one, raw))
            out[f"speedup_ceiling_{cfg.processes}_processes"] = speedup_ceiling(
                os.cpu_count() or 1, out["machine_busy_cores_1_process"], cfg.processes
            )
        return out

    def _scale_out(self, inputs: str, one: Any, raw: float) -> dict[str, Any]:
        """``--workers N`` in both ``pipeline.scale_out`` modes; the unsuffixed keys are the default's.

        Why both: a Bytewax cluster exchanges items between its members (every series to its
        worker), shards exchange nothing; the figures show what the exchange costs.
        """
        n, out = self.config.processes, {}
        default = load_settings().pipeline.scale_out
        for mode in ("cluster", "shards"):
            many, detections = self._drain(f"{n}-processes-{mode}", inputs, self.config.events, n, mode)
            figures = {
                f"end_to_end_{n}_processes_events_per_second": round(many.per_second),
                f"speedup_{n}_processes": round(many.per_second / one.per_second, 3),
                f"ratio_{n}_processes": round(many.per_second / raw, 4),
                f"cpu_us_per_event_{n}_processes": round(many.cpu_us_per_event, 1),
                f"dataflow_cores_{n}_processes": round(many.cpu_seconds / many.cpu_span, 2),
                f"machine_busy_cores_{n}_processes": round(many.machine_busy_seconds / many.cpu_span, 2),
                f"detections_{n}_processes": detections,
            }
            out.update({f"{key}_{mode}": value for key, value in figures.items()})
            if mode == default:
                out.update(figures)
        out["scale_out"] = default
        return out

    def series_scaling(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for count in self.config.series:
            inputs = f"bench.{self.run_id}.series{count}."
            topics = _topics(inputs)
            create_topics(self.bootstrap, topics.inputs(), self.config.partitions)
            # at least series_min_events, so a small count is timed over seconds, not one scrape
            per = max(self.config.per_series, math.ceil(self.config.series_min_events / count))
            messages = series_workload(topics, count, per)
            with self.steps.step(f"load {count:,} series x {per}", len(messages)) as advance:
                produce_all(self.bootstrap, messages, advance)
            result, _ = self._drain(f"series{count}", inputs, len(messages), 1, series=count)
            rows.append(
                {
                    "series": count,
                    "events": len(messages),
                    "events_per_second": round(result.per_second),
                    "peak_rss_bytes": result.peak_rss_bytes,
                    "active_series": result.active_series,
                }
            )
        base = rows[0] if rows else None
        for row in rows:
            if base is not None and row is not base and row["series"] > base["series"]:
                grown = row["peak_rss_bytes"] - base["peak_rss_bytes"]
                row["memory_bytes_per_series"] = round(grown / (row["series"] - base["series"]))
        return rows

    def latency(self) -> dict[str, Any]:
        cfg = self.config
        rate = cfg.latency_rate
        tries: list[dict[str, Any]] = []
        for attempt in range(3):
            result = self._latency_at(rate, attempt)
            tries.append(result)
            if result["sustained"] or rate <= 500:
                break
            rate = round(rate * 0.6, -2)
        best = tries[-1]
        return {
            "latency_target_rate_events_per_second": cfg.latency_rate,
            "latency_rate_events_per_second": best["offered_rate"],
            "latency_sustained": best["sustained"],
            "p50_latency_ms": best["p50_ms"],
            "p99_latency_ms": best["p99_ms"],
            "latency_cores": {
                k: best.get(k) for k in ("dataflow_cores", "load_generator_cores", "machine_busy_cores")
            },
            "latency_tries": tries,
        }

    def _latency_at(self, rate: float, attempt: int) -> dict[str, Any]:
        cfg = self.config
        inputs = f"bench.{self.run_id}.latency{attempt}."
        in_topics = _topics(inputs)
        create_topics(self.bootstrap, in_topics.inputs(), cfg.partitions)
        proc, topics = self._dataflow(f"latency{attempt}", inputs, from_beginning=False)
        done = threading.Event()
        samples: list[tuple[float, float]] = []
        reader = threading.Thread(
            target=lambda: samples.extend(detection_times(self.bootstrap, topics.detections, done.is_set)),
            daemon=True,
        )
        try:
            proc.wait_ready()
            time.sleep(2.0)  # the consumers resolve "latest" at their first fetch
            reader.start()
            seconds = cfg.latency_warmup + cfg.latency_seconds
            started = time.time()
            cpu_start, machine_start, clock_start = (
                proc.cpu_seconds(),
                machine_busy_seconds(),
                time.monotonic(),
            )
            pace = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "forewarn.dev.bench.pipeline_pace",
                    self.bootstrap,
                    topics.probes,
                    str(rate),
                    str(seconds),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            with self.steps.step(f"latency at {rate:,.0f} events/s", seconds) as advance:
                while pace.poll() is None:
                    time.sleep(0.5)
                    advance(0.5)
            sent = pace.stdout.read() if pace.stdout else ""
            elapsed = time.monotonic() - clock_start
            cores = {
                "dataflow_cores": round((proc.cpu_seconds() - cpu_start) / elapsed, 2),
                "machine_busy_cores": round((machine_busy_seconds() - machine_start) / elapsed, 2),
            }
            time.sleep(3.0)  # the last detections in flight
        finally:
            done.set()
            reader.join(30)
            proc.stop()
        import json

        offered = json.loads(sent.strip().splitlines()[-1]) if sent.strip() else {"sent": 0, "rate": 0.0}
        cores["load_generator_cores"] = round(offered.get("cpu_seconds", 0.0) / elapsed, 2)
        measured = sorted(
            (arrived - event) * 1000 for event, arrived in samples if event >= started + cfg.latency_warmup
        )
        if not measured:
            return {
                "offered_rate": rate,
                "sent": offered["sent"],
                **cores,
                "samples": 0,
                "sustained": False,
                "p50_ms": None,
                "p99_ms": None,
            }
        quarter = max(1, len(measured) // 4)
        in_order = [
            (arrived - event) * 1000
            for event, arrived in sorted(samples)
            if event >= started + cfg.latency_warmup
        ]
        first, last = statistics.median(in_order[:quarter]), statistics.median(in_order[-quarter:])
        return {
            "offered_rate": rate,
            "achieved_rate": round(offered["rate"]),
            "sent": offered["sent"],
            **cores,
            "samples": len(measured),
            "p50_ms": round(_quantile(measured, 0.5), 1),
            "p99_ms": round(_quantile(measured, 0.99), 1),
            "max_ms": round(measured[-1], 1),
            "first_quarter_median_ms": round(first, 1),
            "last_quarter_median_ms": round(last, 1),
            # A backlog that grows shows as later detections waiting longer than early ones.
            "sustained": last <= max(3 * first, first + 250.0) and offered["rate"] >= 0.95 * rate,
        }

    def publisher(self) -> dict[str, Any]:
        from forewarn.dev.bench.publisher_rate import measure_publishers

        with self.steps.step("publishers (kafka-python)", 3) as advance:
            return measure_publishers(self.bootstrap, self.config.publisher_messages, advance)


def speedup_ceiling(cpus: int, busy_cores_one: float, processes: int) -> float:
    """The most ``processes`` dataflow processes can gain on this machine, from the 1-process run.

    The broker, the load and the dataflow all share the machine, and their work grows with the
    event rate: at the 1-process rate they keep ``busy_cores_one`` cores busy, so with every core
    busy and no scaling loss the rate grows by ``cpus / busy_cores_one`` at most (and by no more than
    the process count). An upper bound, for reading the measured speed-up.
    """
    if busy_cores_one <= 0:
        return float(processes)
    return round(min(float(processes), cpus / busy_cores_one), 2)


def _quantile(ordered: list[float], q: float) -> float:
    """Nearest-rank quantile of a sorted list."""
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def run_pipeline_bench(
    bootstrap: str | None, config: PipelineBenchConfig, console: Console | None = None
) -> dict[str, Any]:
    """Every step; starts (and stops) a throwaway local broker when ``bootstrap`` is None."""
    console = console or Console(stderr=True)
    settings = load_settings()
    report: dict[str, Any] = {
        "benchmark": "pipeline",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "load_average_before": _load_average(),
        "detector_model": settings.detector.model,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()},
    }
    with _workdir(config.workdir) as workdir, _broker(bootstrap, workdir) as broker:
        report["broker"] = broker
        bench = PipelineBench(broker, config, console, workdir)
        with bench.steps.progress:
            report.update(bench.throughput())
            rows = bench.series_scaling()
            report.update(bench.latency())
            report.update(bench.publisher())
        report["series_tested"] = rows
        report["workdir"] = str(workdir) if config.workdir else None
    states = state_bytes(settings, config.state_events)
    report["state_bytes_by_signal"] = states
    report["state_bytes_per_series"] = max(states.values())
    report["load_average_after"] = _load_average()
    return report


@contextmanager
def _workdir(given: Path | None) -> Iterator[Path]:
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="forewarn-bench-pipeline-") as tmp:
        yield Path(tmp)


@contextmanager
def _broker(bootstrap: str | None, workdir: Path) -> Iterator[str]:
    if bootstrap:
        yield bootstrap
        return
    from forewarn.dev.broker import LocalKafka

    broker = LocalKafka(
        workdir / "kafka",
        port=0,
        controller_port=0,
        version=load_settings().kafka.version,
        die_with_parent=True,
        fast_start=False,  # full JIT: the broker's own speed is not what is measured
    )
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


def print_table(report: dict[str, Any], console: Console) -> None:
    """The figures against issue 14's targets."""
    table = Table(title="forewarn bench pipeline", show_lines=False)
    table.add_column("measure")
    table.add_column("figure", justify="right")
    table.add_column("target", justify="right")

    def num(value: Any, fmt: str = ",.0f") -> str:
        return "n/a" if value is None else format(value, fmt)

    table.add_row("raw consumer (confluent-kafka), events/s", num(report["raw_events_per_second"]), "")
    table.add_row("forewarn run -w 1, end to end, events/s", num(report["end_to_end_events_per_second"]), "")
    table.add_row("ratio end to end / raw", num(report["ratio"], ".1%"), ">= 50%")
    if "parse_only_events_per_second" in report:
        table.add_row(
            "raw consumer + json.loads only (ceiling), events/s (ratio)",
            f"{num(report['parse_only_events_per_second'])} ({num(report['parse_only_ratio'], '.1%')})",
            "",
        )
    n = report["config"]["processes"]
    for mode in ("cluster", "shards"):
        if f"speedup_{n}_processes_{mode}" not in report:
            continue
        default = " (default)" if report.get("scale_out") == mode else ""
        table.add_row(
            f"forewarn run -w {n}, scale_out {mode}{default}, events/s",
            num(report[f"end_to_end_{n}_processes_events_per_second_{mode}"]),
            "",
        )
        table.add_row(
            f"ratio end to end -w {n}, {mode} / raw",
            num(report[f"ratio_{n}_processes_{mode}"], ".1%"),
            "",
        )
        table.add_row(
            f"speed-up 1 -> {n} processes, {mode}",
            num(report[f"speedup_{n}_processes_{mode}"], ".2f") + "x",
            ">= 1.7x",
        )
    ceiling = report.get(f"speedup_ceiling_{n}_processes")
    if ceiling is not None:
        table.add_row(
            f"speed-up ceiling on this machine ({report['machine']['cpus']} cores / busy at 1 process)",
            f"{ceiling:.2f}x",
            "",
        )
    if "cpu_us_per_event_1_process" in report:
        many = report.get(f"cpu_us_per_event_{n}_processes")
        mode = f" ({report['scale_out']})" if many is not None and "scale_out" in report else ""
        table.add_row(
            f"dataflow CPU per event, 1{f' / {n}' if many is not None else ''} processes{mode}, us",
            f"{report['cpu_us_per_event_1_process']:,.1f}" + (f" / {many:,.1f}" if many is not None else ""),
            "",
        )
        table.add_row(
            "cores used: dataflow / whole machine (1 process)",
            f"{report['dataflow_cores_1_process']:.2f} / {report['machine_busy_cores_1_process']:.2f}",
            "",
        )
    rate = report["latency_rate_events_per_second"]
    sustained = "" if report["latency_sustained"] else " (not sustained)"
    table.add_row(
        f"p50 event->detection at {rate:,.0f}/s{sustained}, ms", num(report["p50_latency_ms"], ",.0f"), ""
    )
    table.add_row(
        f"p99 event->detection at {rate:,.0f}/s{sustained}, ms",
        num(report["p99_latency_ms"], ",.0f"),
        "<= 500 at 10k/s",
    )
    cores = report.get("latency_cores") or {}
    if cores.get("dataflow_cores") is not None:
        table.add_row(
            "latency step cores: dataflow / load generator / whole machine",
            " / ".join(
                f"{cores[k]:.2f}" for k in ("dataflow_cores", "load_generator_cores", "machine_busy_cores")
            ),
            "",
        )
    table.add_row(
        "state per series (pickled, largest signal), bytes",
        num(report["state_bytes_per_series"]),
        "<= 20,480",
    )
    for row in report["series_tested"]:
        memory = row.get("memory_bytes_per_series")
        extra = f", {memory:,} B/series RSS" if memory is not None else ""
        table.add_row(
            f"{row['series']:,} series: events/s (peak RSS {row['peak_rss_bytes'] / 2**20:,.0f} MB{extra})",
            num(row["events_per_second"]),
            "",
        )
    for key, label in (
        ("publisher_messages_per_second", "KafkaPublisher (probes, log shipper), msg/s"),
        ("shipper_lines_per_second", "log shipper -> Kafka, lines/s"),
        ("kafka_python_send_per_second", "bare kafka-python send (our settings), msg/s"),
    ):
        if key in report:
            table.add_row(label, num(report[key]), "")
    table.add_row(
        "load average before / after", f"{report['load_average_before']} / {report['load_average_after']}", ""
    )
    console.print(table)
