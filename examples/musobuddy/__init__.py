"""A demo SaaS app modelled on MusoBuddy: health endpoints, fault injection and an admin API.

It stands in for the service forewarn watches. Entry points:

* ``forewarn.musobuddy.app.create_app(config, clock)``: the FastAPI app (one per test, own clock).
* ``forewarn.musobuddy.server.running_app(config, log_path=...)``: serve it on a free 127.0.0.1
  port in a background thread; ``serve_in_thread`` also yields the app for tests that reach inside.
* ``forewarn demo-app`` / ``forewarn demo-admin``: run it, and send it signed admin calls.

Modules, one job each: ``config`` (settings), ``simulation`` (state and faults over time),
``faults`` (catalogue), ``health`` (reports), ``auth_flow`` (synthetic login), ``applog`` (JSON
lines), ``metrics`` (Prometheus), ``admin_actions`` / ``admin_guard`` / ``admin_api`` / ``audit``
(the signed admin API).
"""
