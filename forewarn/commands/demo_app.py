"""``forewarn demo-app``: run the MusoBuddy demo service in the foreground.

Why a command of its own: the probe runner, the log shipper and the healer need a live target to
watch; this starts one with one command. Heavy imports (FastAPI, uvicorn) happen inside the body so
``forewarn --help`` stays instant.
"""

from __future__ import annotations

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
        -H 'content-type: application/json'`) and the HMAC-signed admin API on /api/admin/*.
        The default admin key (demo-admin) is for demos only. Stop with Ctrl-C.
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
