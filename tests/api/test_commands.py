"""The ``forewarn report`` and ``forewarn api`` commands, and the API server end to end with real Kafka."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest
from typer.testing import CliRunner

from forewarn.api.server import ApiServer
from forewarn.cli import app
from forewarn.commands.bench import NAB_PROTOCOL_DETECTOR, nab_detector
from forewarn.kafka.io import ensure_topics, make_producer
from forewarn.models import registry
from forewarn.settings import ApiSettings, DetectorSettings, Settings, StoreSettings
from forewarn.store.db import Store, make_engine
from forewarn.store.sink import topic_kinds
from tests.api.factories import T0, detection, forecast
from tests.api.report_seed import END, START, seed


@pytest.mark.unit
def test_report_command_writes_the_report(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = Store(make_engine(url))
    seed(store)
    store.close()
    result = CliRunner().invoke(
        app,
        [
            "report",
            "--store-url",
            url,
            "--since",
            START.isoformat(),
            "--until",
            END.isoformat(),
            "--out",
            str(tmp_path / "out"),
            "--audit-log",
            str(tmp_path / "missing.jsonl"),
            "--no-pdf",
            "--no-png",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "3 incidents, downtime 105.0 min, cost USD 1,920.00, 5 actions" in result.output
    assert (tmp_path / "out" / "report.html").is_file()


@pytest.mark.unit
@pytest.mark.parametrize("model", get_args(DetectorSettings.model_fields["model"].annotation))
def test_bench_nab_online_runs_the_dataflows_detector_by_default(model: str) -> None:
    """Every model the dataflow can be set to is a benchmark detector, and ``online`` follows it."""
    assert model in registry.detectors()
    name, why = nab_detector(None, "online", DetectorSettings(model=model))
    assert name == model
    assert "detector.model" in why


@pytest.mark.unit
def test_bench_nab_keeps_its_protocol_default_and_an_explicit_choice() -> None:
    settings = DetectorSettings(model="zscore")
    assert nab_detector(None, "nab", settings)[0] == NAB_PROTOCOL_DETECTOR == "cad"
    assert nab_detector("likelihood_cad", "online", settings) == ("likelihood_cad", "--detector")
    assert nab_detector("likelihood", "nab", settings) == ("likelihood", "--detector")


@pytest.mark.unit
def test_bench_nab_online_takes_the_model_from_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end on a tiny made-up corpus: the configured model runs and is named in the output."""
    data = tmp_path / "corpus" / "data" / "made_up"
    data.mkdir(parents=True)
    rows = [f"2026-01-01 00:{i // 60:02d}:{i % 60:02d},{10.0 + (i % 7)}" for i in range(120)]
    (data / "series.csv").write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    monkeypatch.setenv("FOREWARN_DETECTOR__MODEL", "zscore")
    out = tmp_path / "out"
    args = ["bench", "nab", "--data", str(tmp_path / "corpus"), "--out", str(out), "--protocol", "online"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "detector: zscore (the dataflow's detector.model) EWZScore(" in result.output
    assert json.loads((out / "bench_nab.json").read_text())["detector"].startswith("EWZScore(")
    assert len((out / "made_up" / "series.csv").read_text().splitlines()) == 121


@pytest.mark.unit
def test_report_command_rejects_a_bad_period(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["report", "--store-url", f"sqlite:///{tmp_path / 's.db'}", "--since", "lately", "--no-pdf"]
    )
    assert result.exit_code == 2
    assert "use a duration like 7d" in result.output


@pytest.mark.integration
@pytest.mark.slow
def test_api_server_serves_what_the_sink_reads_from_kafka(kafka_settings: Settings, tmp_path: Path) -> None:
    settings = kafka_settings.model_copy(
        update={
            "api": ApiSettings(read_keys=["k"]),
            "store": StoreSettings(
                url=f"sqlite:///{tmp_path / 'state.db'}",
                consumer_group=f"{kafka_settings.kafka.consumer_group}-store",
            ),
        }
    )
    ensure_topics(settings.kafka.bootstrap_servers, list(topic_kinds(settings)), partitions=1)
    producer = make_producer(settings)
    for i in range(5):
        producer.send(
            settings.topics.detections,
            key="auth",
            value=json.dumps(detection("auth", T0 + timedelta(seconds=i))),
        )
    producer.send(
        settings.topics.forecasts,
        key="database",
        value=json.dumps(forecast("database", "db_pool_in_use", T0)),
    )
    producer.send(settings.topics.detections, key="auth", value=b"not json")
    producer.flush(timeout=30)
    producer.close(timeout=10)
    server = ApiServer(settings, port=0)
    server.start()
    try:
        headers = {"X-API-Key": "k"}
        deadline = time.monotonic() + 60
        body: dict[str, object] = {}
        while time.monotonic() < deadline:
            body = httpx.get(f"{server.url}/v1/detections", headers=headers, timeout=5).json()
            if body.get("total") == 5:
                break
            time.sleep(0.3)
        assert body.get("total") == 5, body
        forecasts = httpx.get(f"{server.url}/v1/forecasts", headers=headers, timeout=5).json()
        assert forecasts["items"][0]["metric"] == "db_pool_in_use"
        health = httpx.get(f"{server.url}/v1/health", headers=headers, timeout=5).json()
        topics = {t["topic"]: t for t in health["topics"]}
        assert topics[settings.topics.detections]["rejected"] == 1
        assert "forewarn_store_rows" in httpx.get(f"{server.url}/metrics", timeout=5).text
    finally:
        server.stop()
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{server.url}/v1/health", timeout=1)


@pytest.mark.unit
def test_shared_options_read_the_same_in_every_command() -> None:
    import typer.main

    # typer may bring its own click: reach the click objects by attribute, not by isinstance.
    commands: dict[str, Any] = typer.main.get_command(app).commands  # type: ignore[attr-defined]

    def option(command: str, flag: str) -> Any:
        found = [p for p in commands[command].params if flag in getattr(p, "opts", [])]
        assert len(found) == 1, (command, flag)
        return found[0]

    kafka = {option(c, "--bootstrap-servers").help for c in ("run", "respond", "probe", "ship-logs")}
    assert kafka == {"Kafka host:port[,host:port] (default: settings)."}
    assert len({option(c, "--store-url").help for c in ("api", "report")}) == 1
    assert len({option(c, "--no-kafka").help for c in ("probe", "ship-logs")}) == 1
    for command, setting in (("run", "metrics.port"), ("respond", "responder."), ("probe", "probe.")):
        port = option(command, "--metrics-port")
        assert (port.min, port.max) == (0, 65535)
        assert f"settings {setting}" in port.help, (command, port.help)
