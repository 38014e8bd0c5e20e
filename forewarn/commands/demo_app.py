"""``forewarn demo-app`` runs the MusoBuddy demo service; ``forewarn demo-admin`` calls its admin API.

Why commands of their own: the probe runner, the log shipper and the healer need a live target to
watch; ``demo-app`` starts one with one command. Its admin API only takes signed requests
(Ed25519, ``forewarn.admin_signing``), which curl cannot make, so ``demo-admin`` signs one call
for a person at a terminal. Heavy imports
(FastAPI, uvicorn, httpx) happen inside the bodies so ``forewarn --help`` stays instant.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("demo-app")
    def demo_app(
        host: Annotated[
            str | None, typer.Option(help="Address to bind. Default: demo.host setting (127.0.0.1).")
        ] = None,
        port: Annotated[
            int | None,
            typer.Option(
                min=0, max=65535, help="Port to bind. Default: demo.port setting (8080); 0 = any free port."
            ),
        ] = None,
        config: Annotated[
            Path | None,
            typer.Option(
                "--config",
                exists=True,
                dir_okay=False,
                help="MusoBuddy YAML config (thresholds, latencies, admin keys). "
                "Env: MUSOBUDDY_CONFIG, MUSOBUDDY_*.",
            ),
        ] = None,
        log_file: Annotated[
            Path | None,
            typer.Option(
                help="Append the app's JSON log lines here (tail it with `forewarn ship-logs PATH`)."
            ),
        ] = None,
        log_stdout: Annotated[bool, typer.Option(help="Also print the JSON log lines to stdout.")] = False,
    ) -> None:
        """Run the MusoBuddy demo service: the system forewarn watches.

        Serves /api/health/{auth,database,email,sms,payments,overall}, fault injection on
        /api/faults/{name} (e.g. `curl -X POST localhost:8080/api/faults/db_pool_leak -d '{"rate": 1}'
        -H 'content-type: application/json'`) and the signed admin API on /api/admin/*.
        The default admin key (demo-admin, a published Ed25519 pair) is for demos only. Stop with Ctrl-C.
        """
        from forewarn.musobuddy.server import serve
        from forewarn.settings import load_settings

        settings = load_settings().demo
        bind_host = host if host is not None else settings.host
        bind_port = port if port is not None else settings.port
        try:
            serve(bind_host, bind_port, config, log_file, log_stdout or None)
        except (FileNotFoundError, ValueError) as exc:
            typer.echo(f"demo-app: {exc}", err=True)
            raise typer.Exit(2) from exc

    @app.command("demo-admin")
    def demo_admin(
        action: Annotated[
            str,
            typer.Argument(
                help="restart-service, clear-cache, reset-connections, scale-resources, rotate-keys, "
                "failover, maintenance, rollback-deployment; or 'audit' / 'keys' to read them."
            ),
        ],
        body: Annotated[
            str, typer.Option(help='JSON parameters, e.g. \'{"channel": "email"}\' for failover.')
        ] = "{}",
        url: Annotated[
            str | None, typer.Option(help="Base URL of the app. Default: http://<demo.host>:<demo.port>.")
        ] = None,
        key_id: Annotated[str | None, typer.Option(help="Admin key id. Env: MUSOBUDDY_ADMIN_KEY_ID.")] = None,
        private_key: Annotated[
            str | None,
            typer.Option(
                help="Ed25519 private key (ed25519-private:...). Env: MUSOBUDDY_ADMIN_PRIVATE_KEY. "
                "Default: the demo-only key."
            ),
        ] = None,
        secret: Annotated[
            str | None,
            typer.Option(
                help="Sign with this HMAC secret instead (older apps). Env: MUSOBUDDY_ADMIN_SECRET."
            ),
        ] = None,
    ) -> None:
        """Send one signed admin request to the demo app and print its JSON answer.

        Exit code 0 on a 2xx answer, 1 otherwise (the answer's `detail` says why).
        """
        import httpx

        from forewarn.admin_signing import AdminAuth, AdminKeyError, HmacKey, SigningKey, parse_signing_key
        from forewarn.musobuddy.config import DEMO_ADMIN_KEY_ID, DEMO_ADMIN_PRIVATE_KEY
        from forewarn.settings import load_settings

        settings = load_settings().demo
        base = url or f"http://{settings.host}:{settings.port}"
        hmac_secret = secret or os.environ.get("MUSOBUDDY_ADMIN_SECRET")
        try:
            key: SigningKey = (
                HmacKey(hmac_secret)
                if hmac_secret
                else parse_signing_key(
                    private_key or os.environ.get("MUSOBUDDY_ADMIN_PRIVATE_KEY", DEMO_ADMIN_PRIVATE_KEY)
                )
            )
        except AdminKeyError as exc:
            typer.echo(f"demo-admin: {exc}", err=True)
            raise typer.Exit(2) from exc
        auth = AdminAuth(key_id or os.environ.get("MUSOBUDDY_ADMIN_KEY_ID", DEMO_ADMIN_KEY_ID), key)
        try:
            params = json.loads(body)
        except json.JSONDecodeError as exc:
            typer.echo(f"demo-admin: --body is not JSON: {exc}", err=True)
            raise typer.Exit(2) from exc
        try:
            with httpx.Client(base_url=base, auth=auth, timeout=10) as client:
                if action in ("audit", "keys"):
                    response = client.get(f"/api/admin/{action}")
                else:
                    response = client.post(f"/api/admin/{action}", json=params)
        except httpx.HTTPError as exc:
            typer.echo(f"demo-admin: cannot reach {base}: {exc}", err=True)
            raise typer.Exit(1) from exc
        try:
            typer.echo(json.dumps(response.json(), indent=2))
        except ValueError:
            typer.echo(response.text)
        if response.status_code >= 300:
            typer.echo(f"demo-admin: HTTP {response.status_code}", err=True)
            raise typer.Exit(1)
