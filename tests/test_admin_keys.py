"""Admin signing keys from settings: ``forewarn keys admin``, the key setting, the key file (text or PEM)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from forewarn.admin_signing import (
    AdminKeyError,
    HmacKey,
    parse_verifying_key,
    sign,
    signing_key_from_settings,
    verify,
)
from forewarn.cli import app
from forewarn.settings import HealingSettings

pytestmark = pytest.mark.unit


def _verifies(private: object, public_text: str) -> bool:
    assert isinstance(private, Ed25519PrivateKey)
    headers = sign("POST", "/api/admin/clear-cache", b"{}", "ops", private, 1e9, "n")
    verify("POST", "/api/admin/clear-cache", b"{}", headers, {"ops": parse_verifying_key(public_text)}, 1e9)
    return True


def test_keys_admin_prints_a_pair_that_signs_and_verifies() -> None:
    result = CliRunner().invoke(app, ["keys", "admin"])
    assert result.exit_code == 0, result.output
    private = result.output.split("private:", 1)[1].split()[0]
    public = result.output.split("public:", 1)[1].split()[0]
    assert private.startswith("ed25519-private:") and public.startswith("ed25519:")
    key = signing_key_from_settings(HealingSettings(admin_private_key=private))
    assert _verifies(key, public)


def test_key_file_takes_the_first_text_key_or_a_pem(tmp_path: Path) -> None:
    first, second = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    from forewarn.admin_signing import private_key_text, public_key_text

    text_file = tmp_path / "admin.key"
    text_file.write_text(f"# newest first\n\n{private_key_text(first)}\n{private_key_text(second)}\n")
    key = signing_key_from_settings(HealingSettings(admin_private_key_file=text_file))
    assert _verifies(key, public_key_text(first.public_key()))
    pem_file = tmp_path / "admin.pem"
    pem_file.write_bytes(
        second.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key = signing_key_from_settings(HealingSettings(admin_private_key_file=pem_file))
    assert _verifies(key, public_key_text(second.public_key()))


def test_hmac_secret_none_and_bad_files() -> None:
    assert signing_key_from_settings(HealingSettings()) is None  # unsigned, as before
    assert signing_key_from_settings(HealingSettings(admin_secret="older-hmac-secret")) == HmacKey(
        "older-hmac-secret"
    )
    with pytest.raises(AdminKeyError, match="cannot read the admin private key file"):
        signing_key_from_settings(HealingSettings(admin_private_key_file=Path("/nonexistent/admin.key")))
    with pytest.raises(ValueError, match="set one admin signing key"):
        HealingSettings(admin_private_key="ed25519-private:x", admin_secret="older-hmac-secret")
