"""One module per ``forewarn`` sub-command; each exposes ``register(app: typer.Typer) -> None``."""
