"""``forewarn store rekey|keys``: move the state store to the current storage key, and see what uses which.

Why a command: reads never write, so after a new key is put first in ``security.storage_keys`` the
old rows stay sealed with the old key until something re-seals them. ``rekey`` does (plaintext rows
written before any key too), batch by batch, and can be run again; ``keys`` shows what is left on
each key, so an operator knows when the old key can be removed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from forewarn.commands._options import StoreUrl

if TYPE_CHECKING:
    from forewarn.store.db import Store


def _open(store_url: str | None) -> Store:
    from forewarn.commands.config import load_or_exit
    from forewarn.field_crypto import StorageKeyError
    from forewarn.store.db import open_store

    settings = load_or_exit(None)
    if store_url:
        settings = settings.model_copy(update={"store": settings.store.model_copy(update={"url": store_url})})
    try:
        return open_store(settings)
    except StorageKeyError as exc:
        typer.echo(f"storage keys: {exc}", err=True)
        raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="The state store: encryption at rest (rekey, key usage).", no_args_is_help=True)
    app.add_typer(group, name="store")

    @group.command("rekey")
    def rekey(
        store_url: StoreUrl = None,
        batch: Annotated[int, typer.Option("--batch", min=1, help="Rows per transaction.")] = 500,
    ) -> None:
        """Re-seal every row with the first storage key (plaintext rows included). Safe to repeat."""
        from forewarn.field_crypto import StorageKeyError

        store = _open(store_url)
        try:
            if store.cipher is None:
                typer.echo("no storage key configured (security.storage_keys / storage_key_file)", err=True)
                raise typer.Exit(2)
            try:
                changed = store.rekey(batch=batch)
            except StorageKeyError as exc:
                typer.echo(f"rekey stopped: {exc}", err=True)
                raise typer.Exit(1) from None
            total = sum(changed.values())
            detail = ", ".join(f"{table} {n}" for table, n in changed.items() if n) or "nothing to do"
            typer.echo(f"re-sealed {total} rows with key {store.cipher.current_id} ({detail})")
        finally:
            store.close()

    @group.command("keys")
    def keys(store_url: StoreUrl = None) -> None:
        """Rows per table by the storage key that sealed them (``plain``: not encrypted)."""
        store = _open(store_url)
        try:
            current = store.cipher.current_id if store.cipher else None
            typer.echo(f"current key: {current or 'none (plain storage)'}")
            for table, counts in store.key_usage().items():
                shown = ", ".join(f"{kid} {n}" for kid, n in sorted(counts.items())) or "empty"
                typer.echo(f"  {table}: {shown}")
        finally:
            store.close()
