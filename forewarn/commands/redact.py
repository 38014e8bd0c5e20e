"""``forewarn redact``: filter stdin to stdout through the same redactor the LLM path uses.

Why a command: people need to see, before trusting the system, exactly what would leave the machine.
"""

from __future__ import annotations

from typing import Annotated

import typer

HELP = (
    "Read text from standard input and write it to standard output with secrets and personal data "
    "replaced by [REDACTED:<kind>] (API keys, tokens, passwords, emails, phone numbers, card numbers, "
    "IBANs, IP addresses), line by line, JSON lines included. This is the redactor that every LLM "
    "request goes through.\n\n"
    "Example: tail -n 200 /var/log/musobuddy.jsonl | forewarn redact --stats"
)


def register(app: typer.Typer) -> None:
    @app.command("redact", help=HELP)
    def redact(
        ip_addresses: Annotated[
            str,
            typer.Option(
                "--ip-addresses",
                help="all: mask every IP; public: keep private/loopback ones; off: keep all.",
            ),
        ] = "all",
        no_entropy: Annotated[
            bool, typer.Option("--no-entropy", help="Do not mask generic high-entropy strings.")
        ] = False,
        stats: Annotated[
            bool, typer.Option("--stats", help="Print counts of findings per kind to standard error.")
        ] = False,
    ) -> None:
        """Filter standard input to standard output through the redactor."""
        import sys
        from collections import Counter

        from forewarn.incidents.redact import Redactor

        if ip_addresses not in ("all", "public", "off"):
            raise typer.BadParameter("must be one of: all, public, off", param_hint="--ip-addresses")
        redactor = Redactor(ip_addresses=ip_addresses, entropy=not no_entropy)  # type: ignore[arg-type]
        totals: Counter[str] = Counter()
        lines = 0
        for line in sys.stdin:
            body = line[:-1] if line.endswith("\n") else line
            result = redactor.redact_with_findings(body)
            totals.update(result.findings)
            lines += 1
            sys.stdout.write(result.text + ("\n" if line.endswith("\n") else ""))
        sys.stdout.flush()
        if stats:
            summary = ", ".join(f"{kind}={n}" for kind, n in sorted(totals.items())) or "nothing found"
            typer.echo(f"{lines} lines, {sum(totals.values())} findings: {summary}", err=True)
