"""Test certificates made by the test: a CA, a server certificate for 127.0.0.1, a client certificate.

Why the openssl command line: it is on every Debian machine, and the tests of TLS boundaries (probes
with a private CA and mutual TLS; later Kafka over TLS) must use real certificates, not disabled
verification. Keys are RSA 2048 and valid for a day: enough for a test, quick to make.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _signed(folder: Path, name: str, subject: str, ca: tuple[Path, Path], extensions: str) -> None:
    ext = folder / f"{name}.ext"
    ext.write_text(extensions)
    _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
             "-subj", subject, "-out", f"{name}.csr", cwd=folder)  # fmt: skip
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", str(ca[0]), "-CAkey", str(ca[1]),
             "-CAcreateserial", "-days", "1", "-sha256", "-extfile", str(ext), "-out", f"{name}.crt",
             cwd=folder)  # fmt: skip


def make_pki(folder: Path) -> Pki:
    """A fresh CA with one server (CN and SAN 127.0.0.1, localhost) and one client certificate."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
             "-days", "1", "-subj", "/CN=forewarn test CA", cwd=folder)  # fmt: skip
    ca = (folder / "ca.crt", folder / "ca.key")
    _signed(folder, "server", "/CN=127.0.0.1", ca,
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")  # fmt: skip
    _signed(folder, "client", "/CN=forewarn-prober", ca, "extendedKeyUsage=clientAuth\n")
    return Pki(
        ca_cert=folder / "ca.crt",
        server_cert=folder / "server.crt",
        server_key=folder / "server.key",
        client_cert=folder / "client.crt",
        client_key=folder / "client.key",
    )
