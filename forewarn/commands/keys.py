"""``forewarn keys new|hash|storage-key|admin``: make keys, and the hashed form settings keep instead.

Why: the API keeps only SHA-256 digests of its keys (``forewarn.api.auth``); an operator hands the
key to a client and puts ``sha256:<hex>`` in ``api.read_keys``/``api.admin_keys`` or the keys file,
so the config holds nothing that opens the API. ``hash`` reads the key from standard input when it
is not given, so it need not appear in the shell history. ``admin`` makes an Ed25519 pair for the
signed admin API: the private half for the healing executor, the public half for the target.
"""

from __future__ import annotations

import hashlib
import secrets
import sys
from typing import Annotated

import typer


def hashed(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="Make API keys, storage keys and admin key pairs; hash an API key for settings.",
        no_args_is_help=True,
    )
    app.add_typer(group, name="keys")

    @group.command("new")
    def new() -> None:
        """A random 256-bit API key (give it to the client) and its hash (put it in settings)."""
        key = secrets.token_urlsafe(32)
        typer.echo(f"key:  {key}")
        typer.echo(f"hash: {hashed(key)}")

    @group.command("hash")
    def hash_(
        key: Annotated[str | None, typer.Argument(help="The API key (default: read from stdin).")] = None,
    ) -> None:
        """Print ``sha256:<hex>`` of an API key, the form api.read_keys/admin_keys/keys_file accept."""
        text = key if key is not None else sys.stdin.readline().rstrip("\r\n")
        if not text:
            typer.echo("no key given (argument or one line on stdin)", err=True)
            raise typer.Exit(2)
        typer.echo(hashed(text))

    @group.command("storage-key")
    def storage_key() -> None:
        """A random 256-bit storage key for security.storage_keys (or a line of storage_key_file)."""
        from forewarn.field_crypto import generate_key

        typer.echo(generate_key())

    @group.command("admin")
    def admin() -> None:
        """A new Ed25519 admin key pair: the private key signs (healing.admin_private_key or its key
        file, on the executor's host only), the public key verifies (the target's admin key list)."""
        from forewarn.admin_signing import generate_key_pair

        private, public = generate_key_pair()
        typer.echo(f"private: {private}")
        typer.echo(f"public:  {public}")
