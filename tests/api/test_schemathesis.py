"""Property-based API testing (schemathesis): generated requests, valid and invalid, never a 5xx.

Every operation in the OpenAPI schema is called with data generated from the schema itself (as an
admin, so the deepest code paths run) over a store holding real-looking state; the checks are
schemathesis' defaults (no server error, documented status codes, bodies that match the schema,
invalid data rejected, ...) except one, explained below.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from prometheus_client import CollectorRegistry
from schemathesis.checks import positive_data_acceptance

from forewarn.api.app import create_app
from forewarn.settings import ApiSettings, Settings
from forewarn.store.db import Store, make_engine
from forewarn.store.records import Kind, parse_record
from tests.api.conftest import ADMIN_KEY, READ_KEY
from tests.api.doubles import FakeBudget, pending_action, queued_control
from tests.api.factories import T0, action, detection, forecast, incident, probe

pytestmark = [pytest.mark.unit, pytest.mark.slow]


# Built at import: schemathesis' lazy fixture loader does not support pytest 9 yet, so the schema (and
# the app behind it) must exist when the test is collected. The temp dir goes with the module fixture.
_TMP = Path(tempfile.mkdtemp(prefix="forewarn-schemathesis-"))


def _app() -> Any:
    store = Store(make_engine(f"sqlite:///{_TMP / 'state.db'}"))
    batches: dict[Kind, list[dict[str, Any]]] = {
        Kind.PROBE: [probe("auth", T0 + timedelta(seconds=10 * i), ok=i % 7 != 0) for i in range(60)],
        Kind.DETECTION: [detection("auth", T0 + timedelta(minutes=i)) for i in range(5)],
        Kind.FORECAST: [forecast("database", "db_pool_in_use", T0 + timedelta(minutes=i)) for i in range(3)],
        Kind.INCIDENT: [incident("inc-1", "auth", T0)],
        Kind.ACTION: [action("act-1", "database", T0), pending_action("act-2", "database", "restart_pool")],
    }
    for kind, payloads in batches.items():
        store.upsert(kind, [parse_record(kind, p) for p in payloads])
    healing = queued_control(store, _TMP)
    app = create_app(
        store,
        # One key sends every generated request within seconds: a bucket big enough that the rate
        # limit (tested in test_hardening) never stands in front of the code paths explored here.
        Settings(api=ApiSettings(read_keys=[READ_KEY], admin_keys=[ADMIN_KEY], rate_limit_burst=1_000_000)),
        registry=CollectorRegistry(),
        healing=healing,
        llm_budget=FakeBudget(3.0),
        clock=(T0 + timedelta(hours=1)).timestamp,
    )
    return app


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@pytest.fixture(scope="module", autouse=True)
def _cleanup() -> Iterator[None]:
    yield
    shutil.rmtree(_TMP, ignore_errors=True)


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    # The same examples every run: a random one can be schemathesis' own false positive (a "negative"
    # query value that cannot be serialised is dropped, so the request sent is valid and gets a 200),
    # and CI must not flake on it; new examples come with schema changes, not with the clock.
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_never_errors(case: Any) -> None:  # a schemathesis Case
    # positive_data_acceptance is excluded for one documented reason: 'since' must precede 'until', a
    # cross-parameter rule OpenAPI cannot express; the API answers it with a 400 and a clear detail.
    case.call_and_validate(headers={"X-API-Key": ADMIN_KEY}, excluded_checks=[positive_data_acceptance])
