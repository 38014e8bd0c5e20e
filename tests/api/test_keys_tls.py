"""Hashed API keys, rotation through the keys file while the server runs, and the API over real TLS.

The server is ``ApiServer`` (uvicorn on a real socket) with a certificate made by the test's own CA
(``tests.tls``); every call is real HTTPS with verification on.
"""

from __future__ import annotations

import hashlib
import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from forewarn.api.auth import ApiKeys, KeyFileError, Scope
from forewarn.api.server import ApiServer
from forewarn.cli import app
from forewarn.settings import ApiSettings, Settings
from forewarn.store.db import Store, make_engine
from tests.tls import Pki, make_pki


def _sha(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


@pytest.mark.unit
def test_keys_are_kept_as_digests_and_sha256_entries_work() -> None:
    keys = ApiKeys(read=["plain-read-key-0123456789"], admin=[_sha("hashed-admin-key-0123456789")])
    assert keys.identify("plain-read-key-0123456789").scope is Scope.READ
    admin = keys.identify("hashed-admin-key-0123456789")
    assert admin.scope is Scope.ADMIN
    assert admin.name == "admin-key-" + hashlib.sha256(b"hashed-admin-key-0123456789").hexdigest()[:8]
    # The digest itself is not a key: knowing the config's value does not open the API.
    assert keys.identify(_sha("hashed-admin-key-0123456789")).scope is None
    assert keys.identify(hashlib.sha256(b"hashed-admin-key-0123456789").hexdigest()).scope is None
    assert keys.identify("wrong").scope is None and keys.identify(None).scope is None
    # Nothing in the object holds a key in the clear.
    assert "plain-read-key-0123456789" not in repr(vars(keys))
    with pytest.raises(KeyFileError, match="64 hex digits"):
        ApiKeys(read=["sha256:abc"])


@pytest.mark.unit
def test_keys_commands_make_and_hash_keys() -> None:
    runner = CliRunner()
    made = runner.invoke(app, ["keys", "new"])
    assert made.exit_code == 0, made.output
    key = made.output.split("key:", 1)[1].split()[0]
    digest = made.output.split("hash:", 1)[1].split()[0]
    assert len(key) >= 43 and digest == _sha(key)
    from_stdin = runner.invoke(app, ["keys", "hash"], input=f"{key}\n")
    assert from_stdin.exit_code == 0 and from_stdin.output.strip() == digest
    assert ApiKeys(admin=[digest]).identify(key).scope is Scope.ADMIN
    storage = runner.invoke(app, ["keys", "storage-key"])
    from forewarn.field_crypto import parse_keys

    assert storage.exit_code == 0 and len(parse_keys([storage.output.strip()])[0]) == 32


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _write_keys(path: Path, read: list[str], admin: list[str]) -> None:
    """Replace the file atomically, as an operator's deploy tool (or ``mv``) would."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        "read:\n"
        + "".join(f"  - '{k}'\n" for k in read)
        + "admin:\n"
        + "".join(f"  - '{k}'\n" for k in admin)
    )
    os.replace(tmp, path)


@pytest.fixture
def tls_server(tmp_path: Path, pki: Pki) -> Iterator[tuple[ApiServer, Path]]:
    keys_file = tmp_path / "api-keys.yaml"
    _write_keys(keys_file, [_sha("old-read-key-0123456789")], [])
    settings = Settings(
        api=ApiSettings(
            keys_file=keys_file,
            admin_keys=[_sha("settings-admin-key-0123456789")],
            tls_cert_file=pki.server_cert,
            tls_key_file=pki.server_key,
        )
    )
    store = Store(make_engine(f"sqlite:///{tmp_path / 'state.db'}"))
    server = ApiServer(settings, store=store, sink=False, port=0)
    server.start()
    try:
        yield server, keys_file
    finally:
        server.stop()
        store.close()


def _trusting(pki: Pki) -> httpx.Client:
    return httpx.Client(verify=ssl.create_default_context(cafile=str(pki.ca_cert)), timeout=10)


@pytest.mark.integration
def test_the_api_serves_https_with_the_configured_certificate(
    tls_server: tuple[ApiServer, Path], pki: Pki
) -> None:
    server, _ = tls_server
    assert server.url.startswith("https://127.0.0.1:")
    with _trusting(pki) as client:
        reply = client.get(f"{server.url}/v1/health", headers={"X-API-Key": "old-read-key-0123456789"})
        assert reply.status_code == 200, reply.text
        assert client.get(f"{server.url}/v1/health").status_code == 401
    # A client that does not trust the test CA refuses the server: the certificate is what was checked.
    with (
        httpx.Client(timeout=10) as untrusting,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        untrusting.get(f"{server.url}/v1/health")
    # Plain HTTP on the TLS port gets no API reply.
    plain = server.url.replace("https://", "http://")
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{plain}/v1/health", headers={"X-API-Key": "old-read-key-0123456789"}, timeout=5)


@pytest.mark.integration
def test_api_keys_rotate_through_the_keys_file_without_a_restart(
    tls_server: tuple[ApiServer, Path], pki: Pki
) -> None:
    server, keys_file = tls_server

    def status(key: str) -> int:
        return client.get(f"{server.url}/v1/health", headers={"X-API-Key": key}).status_code

    with _trusting(pki) as client:
        assert status("old-read-key-0123456789") == 200
        assert status("new-read-key-0123456789") == 401
        # Rotation, step 1: the new key is added (hashed) next to the old one; both work at once.
        _write_keys(keys_file, [_sha("old-read-key-0123456789"), _sha("new-read-key-0123456789")], [])
        assert status("new-read-key-0123456789") == 200 and status("old-read-key-0123456789") == 200
        # Step 2: the old key is removed; it stops working on the next request.
        _write_keys(keys_file, [_sha("new-read-key-0123456789")], ["file-admin-key-0123456789"])
        assert status("old-read-key-0123456789") == 401
        assert status("new-read-key-0123456789") == 200
        listed = client.get(f"{server.url}/v1/actions", headers={"X-API-Key": "file-admin-key-0123456789"})
        assert listed.status_code == 200
        # A file that no longer parses keeps the keys in force (a typo must not lock everyone out).
        keys_file.write_text("read: [unclosed\n")
        assert status("new-read-key-0123456789") == 200
        # An edit in place (same file, new content) is seen too.
        keys_file.write_text(f"read: ['{_sha('third-read-key-0123456789')}']\n")
        assert status("third-read-key-0123456789") == 200 and status("new-read-key-0123456789") == 401
        # Removing the file revokes its keys; the hashed admin key from settings stays.
        keys_file.unlink()
        assert status("third-read-key-0123456789") == 401
        assert status("settings-admin-key-0123456789") == 200
