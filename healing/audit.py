"""Hash-chained, append-only audit log of every healing decision and attempt.

Why a hash chain: an operator (or an auditor) must be able to prove after the fact that nobody
edited, removed, inserted or reordered what the executor decided and did. Each JSON line carries
``seq`` (0, 1, 2, ...), the ``prev_hash`` of the line before it and its own ``hash`` (SHA-256 over
the canonical JSON of everything else). Editing any field breaks that line's hash; removing,
inserting or swapping lines breaks ``seq``/``prev_hash``. Cutting lines off the end leaves a valid
prefix, so every append also rewrites a small head file (``<log>.head``) with the last seq and hash;
``verify`` checks the log against it.

Writers in several processes are serialised with ``flock`` on the log file; each append re-reads
the last line under the lock so the chain stays linear.

Encryption at rest (with ``security.storage_keys``): a record's details (``why``, ``inputs``,
``result``, ``validation``, ``rollback`` and any extra field) are sealed into one ``sealed`` field
(AES-GCM bound to the record's ``seq``); who, what, when and the outcome stay plain, so the log can
be searched and counted without the key. The hash covers the line *as written*, ciphertext
included. Why not the plaintext: ``verify`` must work for an auditor (or a cron job) that holds no
key, and hashing ciphertext loses nothing: GCM's tag already refuses an edited ciphertext, and the
chain refuses an edited, moved or dropped line. The price is that a sealed line is never re-encrypted
(that would be a rewrite of history): a rotated key stays listed, to read old lines, until the log
that uses it is archived (``forewarn audit verify`` lists the key ids a log uses).
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import json
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from forewarn.field_crypto import FieldCipher, is_sealed, sealed_key_id, unseal
from forewarn.healing.clock import Clock, SystemClock, iso
from forewarn.healing.errors import AuditIntegrityError

GENESIS_HASH = "0" * 64

AuditEvent = Literal[
    "decision",  # what the executor decided for a trigger, and why
    "skipped",  # a guard or mode said no
    "attempt",  # one action run (result inside)
    "validation",  # post-action health check
    "rollback",  # undo after a failed validation
    "escalation",  # a human was notified
    "approval",  # a pending action was approved / rejected / expired
    "shadow",  # what a human did, compared with what we would have done
    "control",  # kill switch, override, mode changes
]


class AuditRecord(BaseModel):
    """One line of the audit log: who did what, why, with which inputs, and what came of it."""

    model_config = ConfigDict(extra="allow")

    seq: int = -1
    ts: str = ""
    prev_hash: str = ""
    hash: str = ""
    event: str
    actor: str = "forewarn-healing"
    service: str | None = None
    action: str | None = None
    incident_id: str | None = None
    trigger_id: str | None = None
    issue_class: str | None = None
    idempotency_key: str | None = None
    mode: str | None = None
    why: str = ""
    inputs: dict[str, Any] = Field(default_factory=dict)
    outcome: str | None = None  # ok | failed | rejected | dry_run | pending | ...
    result: dict[str, Any] = Field(default_factory=dict)
    validation: dict[str, Any] | None = None
    rollback: dict[str, Any] | None = None


# What stays readable without the key: enough to find, count and order records, and to prove the chain.
PLAIN_FIELDS = frozenset(
    {
        "seq",
        "ts",
        "prev_hash",
        "hash",
        "event",
        "actor",
        "service",
        "action",
        "incident_id",
        "trigger_id",
        "issue_class",
        "idempotency_key",
        "mode",
        "outcome",
    }
)
SEALED_FIELD = "sealed"


def _seal_details(payload: dict[str, Any], cipher: FieldCipher) -> dict[str, Any]:
    details = {k: v for k, v in payload.items() if k not in PLAIN_FIELDS}
    kept = {k: v for k, v in payload.items() if k in PLAIN_FIELDS}
    kept[SEALED_FIELD] = cipher.encrypt(_canonical(details).decode(), f"audit:{payload['seq']}")
    return kept


def open_details(payload: dict[str, Any], cipher: FieldCipher | None) -> dict[str, Any]:
    """A written line with its sealed details opened (unchanged if it has none, or if no key is given)."""
    sealed = payload.get(SEALED_FIELD)
    if not is_sealed(sealed) or cipher is None:
        return payload
    details = json.loads(unseal(cipher, str(sealed), f"audit:{payload.get('seq')}"))
    opened = {k: v for k, v in payload.items() if k != SEALED_FIELD}
    opened.update(details)
    return opened


def _canonical(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


def record_hash(payload: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a record without its own ``hash`` field."""
    body = {k: v for k, v in payload.items() if k != "hash"}
    return hashlib.sha256(_canonical(body)).hexdigest()


@dataclass
class VerifyResult:
    """What ``verify`` found: ``ok`` and, if not, every problem with its line number."""

    path: Path
    records: int = 0
    last_hash: str = GENESIS_HASH
    problems: list[str] = field(default_factory=list)
    sealed_with: dict[str, int] = field(default_factory=dict)  # storage key id -> sealed records

    @property
    def ok(self) -> bool:
        return not self.problems


class AuditLog:
    """Append-only JSON-lines log with a hash chain; safe across threads and processes."""

    def __init__(
        self, path: Path | str, clock: Clock | None = None, cipher: FieldCipher | None = None
    ) -> None:
        self.path = Path(path)
        self.cipher = cipher
        self.head_path = self.path.with_name(self.path.name + ".head")
        self.clock: Clock = clock or SystemClock()
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)

    # -- writing -----------------------------------------------------------------------------

    def append(self, record: AuditRecord | Mapping[str, Any]) -> AuditRecord:
        """Chain and append one record; returns it with ``seq``, ``ts`` and hashes filled in."""
        payload = (
            record.model_dump(mode="json")
            if isinstance(record, AuditRecord)
            else AuditRecord.model_validate(dict(record)).model_dump(mode="json")
        )
        with self._lock, open(self.path, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                last = _last_line(handle)
                if last is None:
                    seq, prev = 0, GENESIS_HASH
                else:
                    try:
                        previous = json.loads(last)
                        seq, prev = int(previous["seq"]) + 1, str(previous["hash"])
                    except (ValueError, KeyError, TypeError) as exc:
                        raise AuditIntegrityError(
                            f"{self.path}: last line is not a valid audit record ({exc}); "
                            "refusing to extend a broken chain"
                        ) from exc
                payload["seq"] = seq
                payload["prev_hash"] = prev
                if not payload.get("ts"):
                    payload["ts"] = iso(self.clock.now())
                written = payload if self.cipher is None else _seal_details(payload, self.cipher)
                written["hash"] = payload["hash"] = record_hash(written)
                handle.seek(0, os.SEEK_END)
                handle.write(_canonical(written) + b"\n")
                handle.flush()
                os.fsync(handle.fileno())
                self._write_head(seq, payload["hash"])
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return AuditRecord.model_validate(payload)

    def _write_head(self, seq: int, digest: str) -> None:
        tmp = self.head_path.with_name(self.head_path.name + ".tmp")
        tmp.write_text(json.dumps({"seq": seq, "hash": digest}) + "\n")
        os.replace(tmp, self.head_path)

    # -- reading -----------------------------------------------------------------------------

    def records(self) -> Iterator[AuditRecord]:
        """Every record, in order (unverified: call ``verify`` for integrity).

        Sealed details are opened with the log's cipher; without one they stay sealed (the record's
        ``sealed`` extra field), and the plain fields still read.
        """
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield AuditRecord.model_validate(open_details(json.loads(line), self.cipher))

    def verify(self) -> VerifyResult:
        return verify_log(self.path)


def _last_line(handle: io.BufferedRandom) -> bytes | None:
    """The last non-empty line of a file opened in binary mode, read from the end."""
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    if size == 0:
        return None
    block = 4096
    data = b""
    pos = size
    while pos > 0:
        step = min(block, pos)
        pos -= step
        handle.seek(pos)
        data = handle.read(step) + data
        stripped = data.rstrip(b"\n")
        if b"\n" in stripped:
            return stripped.rsplit(b"\n", 1)[1]
    stripped = data.rstrip(b"\n")
    return stripped or None


def verify_log(path: Path | str) -> VerifyResult:
    """Check the whole chain and the head file; never raises for a bad log, lists problems instead."""
    path = Path(path)
    result = VerifyResult(path=path)
    if not path.exists():
        result.problems.append(f"{path}: no such audit log")
        return result
    expected_prev = GENESIS_HASH
    expected_seq = 0
    with open(path, "rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            if not raw.strip():
                result.problems.append(f"line {lineno}: blank line inside the log")
                continue
            try:
                payload = json.loads(raw)
                if not isinstance(payload, dict):
                    raise ValueError("not a JSON object")
            except ValueError as exc:
                result.problems.append(f"line {lineno}: not valid JSON ({exc})")
                continue
            seq = payload.get("seq")
            if seq != expected_seq:
                result.problems.append(
                    f"line {lineno}: seq {seq} where {expected_seq} was expected "
                    "(a record was removed, inserted or reordered)"
                )
            if payload.get("prev_hash") != expected_prev:
                result.problems.append(
                    f"line {lineno}: prev_hash does not match the hash of the record before it "
                    "(a record was removed, inserted or reordered)"
                )
            sealer = sealed_key_id(str(payload.get(SEALED_FIELD, "")))
            if sealer is not None:
                result.sealed_with[sealer] = result.sealed_with.get(sealer, 0) + 1
            stored = payload.get("hash")
            actual = record_hash(payload)
            if stored != actual:
                result.problems.append(f"line {lineno}: hash mismatch (the record was edited)")
            expected_prev = str(stored)
            expected_seq = (seq if isinstance(seq, int) else expected_seq) + 1
            result.records += 1
    result.last_hash = expected_prev
    head_path = path.with_name(path.name + ".head")
    if head_path.exists():
        try:
            head = json.loads(head_path.read_text())
            if head.get("seq") != result.records - 1 or head.get("hash") != result.last_hash:
                result.problems.append(
                    f"head: the log ends at seq {result.records - 1} but its head file says seq "
                    f"{head.get('seq')} (records were cut off the end, or the head was altered)"
                )
        except (ValueError, AttributeError) as exc:
            result.problems.append(f"head: unreadable head file ({exc})")
    elif result.records:
        result.problems.append("head: head file missing (cannot prove the end of the log was not cut)")
    return result


# -- compliance export -----------------------------------------------------------------------

EXPORT_COLUMNS = [
    "seq",
    "ts",
    "event",
    "actor",
    "service",
    "action",
    "incident_id",
    "issue_class",
    "mode",
    "outcome",
    "why",
    "idempotency_key",
    "inputs",
    "result",
    "validation",
    "rollback",
    "hash",
]


def _parse_ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def export_records(
    path: Path | str,
    since: datetime | None = None,
    until: datetime | None = None,
    fmt: Literal["json", "csv"] = "json",
    cipher: FieldCipher | None = None,
) -> str:
    """A compliance report of the records with ``since <= ts < until``, with the chain's status.

    The JSON form carries the verification verdict with the records, so the report says whether
    the trail it came from was intact.
    """
    verdict = verify_log(path)
    selected: list[dict[str, Any]] = []
    for record in AuditLog(path, cipher=cipher).records():
        stamp = _parse_ts(record.ts)
        if since is not None and stamp < since:
            continue
        if until is not None and stamp >= until:
            continue
        selected.append(record.model_dump(mode="json"))
    if fmt == "json":
        report = {
            "log": str(Path(path)),
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
            "chain_ok": verdict.ok,
            "chain_problems": verdict.problems,
            "total_records_in_log": verdict.records,
            "records": selected,
            "summary": _summary(selected),
        }
        return json.dumps(report, indent=2, default=str) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in selected:
        flat = {
            k: (json.dumps(v, sort_keys=True, default=str) if isinstance(v, dict | list) else v)
            for k, v in row.items()
        }
        writer.writerow(flat)
    return out.getvalue()


def _summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    by_event: dict[str, int] = {}
    by_outcome: dict[str, int] = {}
    for row in records:
        by_event[row["event"]] = by_event.get(row["event"], 0) + 1
        if row.get("outcome"):
            by_outcome[row["outcome"]] = by_outcome.get(row["outcome"], 0) + 1
    return {"records": len(records), "by_event": by_event, "by_outcome": by_outcome}


__all__ = [
    "GENESIS_HASH",
    "AuditLog",
    "AuditRecord",
    "VerifyResult",
    "export_records",
    "open_details",
    "record_hash",
    "verify_log",
]
