"""The ``forewarn`` command line.

Each sub-command lives in its own module under ``forewarn/commands/`` with a ``register(app)``
function; this file only discovers them, so adding a command never touches shared code. Command
bodies import heavy libraries (Bytewax, River) lazily so ``forewarn --help`` stays instant.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from pathlib import Path
from typing import Annotated

import typer

from forewarn import __version__, commands
from forewarn.settings import CONFIG_ENV_VAR

app = typer.Typer(
    name="forewarn",
    help=(
        "forewarn watches a web service, predicts failures and resource exhaustion before they "
        "happen, explains them and heals safely.\n\n"
        "Configuration: defaults < config file (--config or FOREWARN_CONFIG, YAML or TOML) < "
        "FOREWARN_* environment variables (nested with __, e.g. FOREWARN_KAFKA__BOOTSTRAP_SERVERS)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"forewarn {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="YAML or TOML settings file (same as FOREWARN_CONFIG).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Top-level options shared by every command; a bad config file stops here, one line per problem."""
    if config is not None:
        os.environ[CONFIG_ENV_VAR] = str(config)
    if ctx.invoked_subcommand != "config" and os.environ.get(CONFIG_ENV_VAR):
        # Validated once up front, so no command fails later with a traceback; ``config`` reports itself.
        from forewarn.commands.config import load_or_exit

        load_or_exit(None)


def _register_all() -> None:
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(app)


_register_all()
