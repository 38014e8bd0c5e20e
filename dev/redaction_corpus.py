# ruff: noqa: E501  (log-line templates read better whole)
"""A labelled, seeded corpus of log lines for measuring the redactor.

Why generated: a fixed hand-written list would test the values its author thought of. Here every
secret is drawn at random (valid Luhn card numbers, mod-97-valid IBANs, random keys in each vendor's
format) and planted in realistic line shapes: the demo service's JSON log lines, nested JSON payloads,
key=value access logs, headers, connection URLs and stack traces. Each planted line carries the exact
values that must disappear. Clean lines are shaped like the same logs (latencies, ids, trace ids,
UUIDs, timestamps, SQL, paths) and must come out unchanged; the share that changes is the
false-redaction rate. The corpus committed in ``tests/incidents/data/`` is ``generate(seed=5)``.
"""

from __future__ import annotations

import base64
import json
import random
import string
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from forewarn.dev import secret_values as sv
from forewarn.incidents.identifiers import IBAN_LENGTHS, mod97

ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"

SERVICES = ["auth", "database", "email", "sms", "payments", "overall"]
FIRST = ["jane", "omar", "li", "maria", "tom", "aisha", "pieter", "sofia", "kwame", "yuki"]
LAST = ["doe", "haddad", "wei", "garcia", "brown", "khan", "devries", "rossi", "mensah", "tanaka"]
DOMAINS = ["example.com", "mail.example.org", "musobuddy.co.uk", "bandmail.net", "gig-agency.io"]


@dataclass(frozen=True, slots=True)
class CorpusLine:
    """One log line; ``secrets`` are the planted values that must not survive redaction."""

    text: str
    secrets: tuple[str, ...]
    kinds: tuple[str, ...]

    def to_json(self) -> str:
        return json.dumps({"text": self.text, "secrets": list(self.secrets), "kinds": list(self.kinds)})


def _rand(rng: random.Random, n: int, alphabet: str = ALNUM) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _mixed(rng: random.Random, n: int, alphabet: str = ALNUM) -> str:
    """Random string guaranteed to hold upper, lower and digit (as real generated keys do)."""
    while True:
        value = _rand(rng, n, alphabet)
        if (
            any(c.isupper() for c in value)
            and any(c.islower() for c in value)
            and any(c.isdigit() for c in value)
        ):
            return value


def luhn_card(rng: random.Random) -> str:
    prefix, length = rng.choice(
        [("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15), ("6011", 16)]
    )
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body + str((10 - total % 10) % 10)


def iban(rng: random.Random, country: str | None = None, valid: bool = True) -> str:
    """An IBAN of any registry country (or ``country``); ``valid=False`` gives one failing mod-97."""
    country = country or rng.choice(sorted(IBAN_LENGTHS))
    length = IBAN_LENGTHS[country]
    letters = rng.randint(0, 4)
    bban = _rand(rng, letters, string.ascii_uppercase) + _rand(rng, length - 4 - letters, string.digits)
    check = 98 - mod97(bban + country + "00")
    if not valid:
        check = (check + rng.randint(1, 96)) % 97 or 97  # any other pair of check digits fails
    return f"{country}{check:02d}{bban}"


def _spaced(value: str, group: int = 4) -> str:
    return " ".join(value[i : i + group] for i in range(0, len(value), group))


def _email(rng: random.Random) -> str:
    sep = rng.choice([".", "_", "", "+gigs."])
    return f"{rng.choice(FIRST)}{sep}{rng.choice(LAST)}{rng.randint(1, 99)}@{rng.choice(DOMAINS)}"


def _phone(rng: random.Random) -> str:
    style = rng.randrange(5)
    if style == 0:
        return f"+44 7{rng.randint(100, 999)} {rng.randint(100000, 999999)}"
    if style == 1:
        return f"+1 ({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randint(1000, 9999)}"
    if style == 2:
        return f"+49{rng.randint(1500000000, 1799999999)}"
    if style == 3:
        return f"({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randint(1000, 9999)}"
    return f"+33 6 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}"


def _ip(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return f"2001:db8:{rng.randint(1, 0xFFFF):x}::{rng.randint(1, 0xFFFF):x}"
    return ".".join(str(rng.randint(1, 254)) for _ in range(4))


def _jwt(rng: random.Random) -> str:
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()
    claims = json.dumps(
        {"sub": str(rng.randint(1000, 99999)), "exp": rng.randint(1_700_000_000, 1_800_000_000)}
    )
    payload = base64.urlsafe_b64encode(claims.encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.{_rand(rng, 43, ALNUM + '-_')}"


def _secret_values(rng: random.Random) -> dict[str, str]:
    """One fresh value of every kind."""
    return {
        "bearer": _mixed(rng, 32, ALNUM + "-._"),
        "jwt": _jwt(rng),
        "aws_id": "AKIA" + _rand(rng, 16, string.ascii_uppercase + string.digits),
        "aws_secret": _mixed(rng, 40, B64),
        "stripe_sk": "sk_live_" + _mixed(rng, 24),
        "stripe_pk": "pk_live_" + _mixed(rng, 24),
        "stripe_rk": "rk_test_" + _mixed(rng, 24),
        "stripe_whsec": "whsec_" + _mixed(rng, 32),
        "slack": f"xoxb-{rng.randint(10**10, 10**11)}-{rng.randint(10**10, 10**11)}-{_mixed(rng, 24)}",
        "slack_hook": f"https://hooks.slack.com/services/T{_rand(rng, 8, string.ascii_uppercase)}/B{_rand(rng, 8, string.ascii_uppercase)}/{_mixed(rng, 24)}",
        "github": "ghp_" + _mixed(rng, 36),
        "github_pat": "github_pat_" + _mixed(rng, 22) + "_" + _mixed(rng, 59),
        "google": "AIza" + _mixed(rng, 35, ALNUM + "-_"),
        "sendgrid": "SG." + _mixed(rng, 22) + "." + _mixed(rng, 43),
        "openai": "sk-proj-" + _mixed(rng, 48),
        "generic": _mixed(rng, rng.randint(28, 48)),
        "password": rng.choice(
            ["hunter2", "Tr0ub4dor&3", "correct-horse-9", "P@ssw0rd!", "s3cr3t", "letmein42"]
        )
        + _rand(rng, 3, string.digits),
        "email": _email(rng),
        "phone": _phone(rng),
        "card": luhn_card(rng),
        "iban": iban(rng),
        "ip": _ip(rng),
    }


def _ts(rng: random.Random) -> str:
    moment = datetime(2026, 11, 25, tzinfo=UTC) + timedelta(
        seconds=rng.randint(0, 86_400), milliseconds=rng.randint(0, 999)
    )
    return moment.isoformat(timespec="milliseconds")


def _json_log(
    rng: random.Random, level: str, logger: str, message: str, service: str, **extra: object
) -> str:
    record: dict[str, object] = {
        "timestamp": _ts(rng),
        "level": level,
        "logger": logger,
        "message": message,
        "service": service,
    }
    record.update(extra)
    return json.dumps(record)


def _planted(rng: random.Random) -> list[CorpusLine]:
    v = _secret_values(rng)
    s = rng.choice(SERVICES)
    card_fmt = rng.choice([v["card"], _spaced(v["card"]), "-".join(_spaced(v["card"]).split())])
    iban_fmt = rng.choice([v["iban"], _spaced(v["iban"])])
    host = rng.choice(["db.internal", "10.0.3.7", "pg-primary", "redis.cache.svc"])
    lines = [
        CorpusLine(
            f"{_ts(rng)} INFO musobuddy.auth request GET /api/me Authorization: Bearer {v['bearer']}",
            (v["bearer"],),
            ("bearer",),
        ),
        CorpusLine(
            _json_log(rng, "INFO", "musobuddy.auth", "session issued", "auth", session_token=v["jwt"]),
            (v["jwt"],),
            ("jwt",),
        ),
        CorpusLine(f"{_ts(rng)} WARNING auth rejected token {v['jwt']} (expired)", (v["jwt"],), ("jwt",)),
        CorpusLine(
            f"{_ts(rng)} DEBUG boto3 using credentials access_key={v['aws_id']} secret_key={v['aws_secret']}",
            (v["aws_id"], v["aws_secret"]),
            ("aws_id", "aws_secret"),
        ),
        CorpusLine(
            f"export AWS_ACCESS_KEY_ID={v['aws_id']}; export AWS_SECRET_ACCESS_KEY={v['aws_secret']}",
            (v["aws_id"], v["aws_secret"]),
            ("aws_id", "aws_secret"),
        ),
        CorpusLine(
            _json_log(
                rng,
                "ERROR",
                "musobuddy.payments",
                f"stripe call failed with key {v['stripe_sk']}",
                "payments",
                http_status=401,
            ),
            (v["stripe_sk"],),
            ("stripe_sk",),
        ),
        CorpusLine(
            f"{_ts(rng)} INFO payments checkout init publishable={v['stripe_pk']} restricted={v['stripe_rk']}",
            (v["stripe_pk"], v["stripe_rk"]),
            ("stripe_pk", "stripe_rk"),
        ),
        CorpusLine(
            f"{_ts(rng)} ERROR payments webhook signature mismatch, secret {v['stripe_whsec']}",
            (v["stripe_whsec"],),
            ("stripe_whsec",),
        ),
        CorpusLine(
            f"{_ts(rng)} ERROR notify slack post failed token={v['slack']} url={v['slack_hook']}",
            (v["slack"], v["slack_hook"]),
            ("slack", "slack_hook"),
        ),
        CorpusLine(
            f"{_ts(rng)} INFO deploy cloning with {v['github']} and PAT {v['github_pat']}",
            (v["github"], v["github_pat"]),
            ("github", "github_pat"),
        ),
        CorpusLine(
            f"GET /maps/api/geocode/json?address=venue&key={v['google']} 200 83ms",
            (v["google"],),
            ("google",),
        ),
        CorpusLine(
            f"{_ts(rng)} ERROR email sendgrid 401 with api key {v['sendgrid']}",
            (v["sendgrid"],),
            ("sendgrid",),
        ),
        CorpusLine(
            _json_log(
                rng,
                "DEBUG",
                "forewarn.llm",
                "client configured",
                "overall",
                config={"base_url": "http://127.0.0.1:8081/v1", "auth": {"api_key": v["openai"]}},
            ),
            (v["openai"],),
            ("openai",),
        ),
        CorpusLine(
            f"{_ts(rng)} WARNING sms provider replied x-signature {v['generic']} for message",
            (v["generic"],),
            ("generic",),
        ),
        CorpusLine(
            f"{_ts(rng)} ERROR musobuddy.db cannot connect postgres://musobuddy:{v['password']}@{host}:5432/bookings",
            (v["password"],),
            ("url_password",),
        ),
        CorpusLine(
            f"{_ts(rng)} INFO redis connecting redis://default:{v['password']}@{host}:6379/0",
            (v["password"],),
            ("url_password",),
        ),
        CorpusLine(
            f"{_ts(rng)} DEBUG config loaded db_password={v['password']} pool_size=20",
            (v["password"],),
            ("password",),
        ),
        CorpusLine(
            _json_log(
                rng,
                "INFO",
                "musobuddy.auth",
                "login attempt",
                "auth",
                username=v["email"],
                password=v["password"],
            ),
            (v["email"], v["password"]),
            ("email", "password"),
        ),
        CorpusLine(
            f"{_ts(rng)} INFO musobuddy.email sent booking confirmation to {v['email']}",
            (v["email"],),
            ("email",),
        ),
        CorpusLine(
            _json_log(rng, "ERROR", "musobuddy.sms", f"SMS delivery failed to {v['phone']}: HTTP 503", "sms"),
            (v["phone"],),
            ("phone",),
        ),
        CorpusLine(
            f"{_ts(rng)} INFO sms queued for {v['phone']} template=gig_reminder", (v["phone"],), ("phone",)
        ),
        CorpusLine(
            f"{_ts(rng)} WARNING payments declined card {card_fmt} amount=150.00 GBP", (card_fmt,), ("card",)
        ),
        CorpusLine(
            _json_log(
                rng,
                "ERROR",
                "musobuddy.payments",
                "charge failed",
                "payments",
                payload={"card": {"number": int(v["card"]), "exp": "12/29"}, "amount": 15000},
            ),
            (v["card"],),
            ("card",),
        ),
        CorpusLine(
            f"{_ts(rng)} INFO payouts transfer to IBAN {iban_fmt} for musician 4821", (iban_fmt,), ("iban",)
        ),
        CorpusLine(
            f"{_ts(rng)} WARNING auth too many logins from {v['ip']} user={v['email']}",
            (v["ip"], v["email"]),
            ("ip", "email"),
        ),
        CorpusLine(
            _json_log(
                rng,
                "ERROR",
                "musobuddy.api",
                "upstream error",
                s,
                request={
                    "headers": {"Authorization": f"Bearer {v['bearer']}", "X-Forwarded-For": v["ip"]},
                    "body": json.dumps({"email": v["email"], "phone": v["phone"], "card_number": v["card"]}),
                },
            ),
            (v["bearer"], v["ip"], v["email"], v["phone"], v["card"]),
            ("bearer", "ip", "email", "phone", "card"),
        ),
        CorpusLine(
            f'{_ts(rng)} ERROR Traceback: ValueError("bad key {v["stripe_sk"]} for {v["email"]}") at payments/provider.py:88',
            (v["stripe_sk"], v["email"]),
            ("stripe_sk", "email"),
        ),
    ]
    return lines


def _planted_classes(rng: random.Random) -> list[CorpusLine]:
    """Shapes per class (issue #15): IBANs of every registry country glued into text, national ids,
    PEM blocks, connection strings, cookies and OAuth credentials."""
    account = iban(rng)
    glued = rng.choice([f"ref=PAYOUT{account}EUR", f"iban_{account}", f"acct:{account}/2026", f"x{account}"])
    spaced = _spaced(iban(rng))
    lower = iban(rng).lower()
    ssn, nino, dni, cf = sv.us_ssn(rng), sv.uk_nino(rng), sv.es_dni(rng), sv.it_codice_fiscale(rng)
    nir, bsn, pesel = sv.fr_nir(rng), sv.nl_bsn(rng), sv.pl_pesel(rng)
    pem, pem_line = sv.private_key_pem(rng)
    pw = sv.conn_password(rng)
    scheme = rng.choice(["mongodb+srv", "amqp", "ftp", "smtp", "ldap", "mssql", "clickhouse", "nats"])
    user = rng.choice(["", "svc", "musobuddy", "admin"])
    url_pw = _mixed(rng, 14, ALNUM + "!*@")
    sid, sid2 = sv.session_id(rng), sv.session_id(rng)
    client_secret, refresh = _mixed(rng, 40, ALNUM + "-_"), _mixed(rng, 48, ALNUM + "-_.")
    basic = base64.b64encode(
        f"{rng.choice(FIRST)}:{rng.choice(LAST)}{rng.choice(['pw', 'pass'])}".encode()
    ).decode()
    letters_only = _rand(rng, 24, string.ascii_letters)
    ts = _ts(rng)
    return [
        CorpusLine(f"{ts} INFO payouts batch {glued} queued", (account,), ("iban",)),
        CorpusLine(f"{ts} INFO payouts beneficiary {spaced}, amount 150.00", (spaced,), ("iban",)),
        CorpusLine(
            _json_log(rng, "INFO", "musobuddy.payouts", f"paid to {lower}", "payments"), (lower,), ("iban",)
        ),
        CorpusLine(
            f"{ts} WARNING kyc mismatch ssn {ssn} nino {nino} dni={dni} cf {cf}",
            (ssn, nino, dni, cf),
            ("us_ssn", "uk_nino", "es_dni", "it_codice_fiscale"),
        ),
        CorpusLine(
            _json_log(rng, "INFO", "musobuddy.kyc", f"verified NIR {nir}, BSN: {bsn}, PESEL={pesel}", "auth"),
            (nir, bsn, pesel),
            ("fr_nir", "nl_bsn", "pl_pesel"),
        ),
        CorpusLine(f"{ts} ERROR tls could not load key {pem} from vault", (pem_line,), ("private_key",)),
        CorpusLine(
            _json_log(
                rng,
                "DEBUG",
                "musobuddy.config",
                "loaded",
                "overall",
                tls={"key_pem": pem, "path": "/etc/tls"},
            ),
            (pem_line,),
            ("private_key",),
        ),
        CorpusLine(
            f"{ts} ERROR db connect failed: Server=sql01;Database=bookings;User Id=app;Password={pw};Encrypt=true",
            (pw,),
            ("conn_password",),
        ),
        CorpusLine(
            f'{ts} ERROR odbc "Driver={{ODBC Driver 18}};Server=sql01;Uid=app;Pwd={{{pw}}};"',
            (pw,),
            ("conn_password",),
        ),
        CorpusLine(
            f"{ts} WARNING jdbc:sqlserver://sql01:1433;databaseName=bookings;user=app;password={pw}",
            (pw,),
            ("conn_password",),
        ),
        CorpusLine(
            f"{ts} INFO connecting {scheme}://{user}:{url_pw}@broker.internal:4222/x",
            (url_pw,),
            ("url_password",),
        ),
        CorpusLine(
            f"{ts} DEBUG http request Cookie: _ga=GA1.2.{rng.randint(10**8, 10**9)}; sessionid={sid}; theme=dark",
            (sid,),
            ("cookie",),
        ),
        CorpusLine(
            f"{ts} DEBUG http response Set-Cookie: JSESSIONID={sid}; Path=/; Secure; HttpOnly",
            (sid,),
            ("cookie",),
        ),
        CorpusLine(
            f"{ts} INFO GET /bookings;jsessionid={sid}?page=2 PHPSESSID={sid2} 200",
            (sid, sid2),
            ("session_id", "session_id"),
        ),
        CorpusLine(
            f"{ts} DEBUG oauth token exchange client_id=musobuddy client_secret={client_secret} grant_type=refresh_token&refresh_token={refresh}",
            (client_secret, refresh),
            ("client_secret", "refresh_token"),
        ),
        CorpusLine(
            _json_log(
                rng,
                "DEBUG",
                "musobuddy.oauth",
                "token response",
                "auth",
                access_token=_jwt(rng),
                refresh_token=refresh,
            ),
            (refresh,),
            ("refresh_token",),
        ),
        CorpusLine(f"{ts} WARNING upstream 401 Authorization: Basic {basic}", (basic,), ("authorization",)),
        CorpusLine(
            f"{ts} WARNING upstream 401 authorization={rng.choice(['Bearer ', ''])}{letters_only}",
            (letters_only,),
            ("authorization",),
        ),
    ]


def _tricky_clean(rng: random.Random) -> str:
    """Clean lines made to look like the classes above: they must come out unchanged."""
    order = iban(rng, valid=False)
    shapes = [
        lambda: (
            f"{_ts(rng)} INFO request_id={rng.getrandbits(256):064x} span={rng.getrandbits(64):016x} done"
        ),
        lambda: (
            f"{_ts(rng)} INFO job {uuid.UUID(int=rng.getrandbits(128))} {rng.getrandbits(128):032X} finished"
        ),
        lambda: f"{_ts(rng)} INFO order {order} shipped (ref {order[:4]}-{order[4:]})",
        lambda: f"{_ts(rng)} INFO order ref ORD{order} / {_spaced(order)}",
        lambda: f"{_ts(rng)} INFO import row {rng.choice(sv.near_miss_ids(rng))} skipped",
        lambda: (
            f"{datetime(2026, 11, 25, tzinfo=UTC).timestamp() + rng.randint(0, 86400):.0f} {_ts(rng)} 2026-11-25T10:{rng.randint(10, 59)}:00+01:00 tick"
        ),
        lambda: (
            f"{_ts(rng)} INFO build {rng.randint(100, 999)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}-rc{rng.randint(1, 9)} deployed"
        ),
        lambda: (
            f"{_ts(rng)} INFO db connect Server=sql01;Database=bookings;Integrated Security=true;Encrypt=true"
        ),
        lambda: f"{_ts(rng)} INFO db jdbc:postgresql://db:5432/bookings?user=app&ssl=true pool=20",
        lambda: f"{_ts(rng)} INFO cookie consent banner shown, {rng.randint(1, 900)} sessions active",
        lambda: f"{_ts(rng)} WARNING authorization failed for booking {rng.randint(10000, 99999)} (HTTP 403)",
        lambda: f"{_ts(rng)} INFO loaded certificate -----BEGIN CERTIFICATE----- from /etc/ssl/certs/app.pem",
        lambda: (
            f"{_ts(rng)} INFO ssn_check=enabled bsn_check=disabled nino_format=v2 retries={rng.randint(1, 9)}"
        ),
    ]
    return rng.choice(shapes)()


def _clean(rng: random.Random) -> str:
    s = rng.choice(SERVICES)
    ms = round(rng.uniform(0.4, 9000), rng.choice([0, 1, 3]))
    trace = uuid.UUID(int=rng.getrandbits(128)).hex
    shapes = [
        lambda: f"{_ts(rng)} INFO musobuddy.http GET /api/health/{s} 200 {ms}ms trace={trace}",
        lambda: _json_log(
            rng,
            "WARNING",
            "musobuddy.db",
            f"slow query {int(ms)} ms: SELECT * FROM bookings WHERE musician_id = $1 AND gig_date >= $2",
            "database",
            duration_ms=ms,
        ),
        lambda: _json_log(
            rng,
            "ERROR",
            "musobuddy.db",
            "database connection failed: connection refused (is the server running on port 5432?)",
            "database",
        ),
        lambda: _json_log(
            rng,
            "INFO",
            "musobuddy.app",
            "musobuddy starting",
            "overall",
            version=f"1.{rng.randint(0, 9)}.{rng.randint(0, 30)}",
            pid=rng.randint(100, 65000),
        ),
        lambda: _json_log(
            rng,
            "WARNING",
            "musobuddy.payments",
            "payment declined: card_declined (HTTP 402) for booking deposit GBP 150.00",
            "payments",
            http_status=402,
        ),
        lambda: _json_log(
            rng,
            "ERROR",
            "musobuddy.payments",
            "payment provider error: HTTP 502 Bad Gateway from api.stripe.com/v1/payment_intents",
            "payments",
            http_status=502,
        ),
        lambda: _json_log(
            rng,
            "ERROR",
            "musobuddy.email",
            "email delivery failed via primary: SMTP 421 service not available",
            "email",
        ),
        lambda: _json_log(
            rng,
            "ERROR",
            "musobuddy.sms",
            "SMS delivery failed via twilio: HTTP 503 Service Unavailable",
            "sms",
        ),
        lambda: _json_log(
            rng,
            "WARNING",
            "musobuddy.auth",
            f"login took {int(ms)} ms (threshold 800 ms)",
            "auth",
            duration_ms=ms,
        ),
        lambda: _json_log(
            rng, "CRITICAL", "musobuddy.process", "service unavailable: process was OOMKilled", "overall"
        ),
        lambda: (
            f"{_ts(rng)} INFO pool 17/20 in use, {rng.randint(0, 9)} waiting; request_id={uuid.UUID(int=rng.getrandbits(128))}"
        ),
        lambda: (
            f"{_ts(rng)} INFO cache rendered invoice_{rng.randint(1000, 99999)}.pdf size={rng.randint(10_000, 5_000_000)} bytes disk_used=81.4%"
        ),
        lambda: (
            f"{_ts(rng)} DEBUG kafka produced offset={rng.randint(0, 10**9)} partition={rng.randint(0, 11)} topic=forewarn.logs"
        ),
        lambda: (
            f"{_ts(rng)} INFO deploy musobuddy commit {trace[:40]} rolled out to {rng.randint(1, 6)} replicas"
        ),
        lambda: (
            f"{_ts(rng)} INFO memory_bytes={rng.randint(10**8, 4 * 10**9)} limit=4294967296 gc_pause_ms={ms}"
        ),
        lambda: f"{_ts(rng)} INFO token bucket refilled: tokens=512 capacity=1024 max_tokens=2048",
        lambda: f"{_ts(rng)} INFO password reset email queued (template=reset_v2, expires_in=3600s)",
        lambda: (
            f"{_ts(rng)} WARNING retrying in {rng.randint(1, 30)}s (attempt {rng.randint(1, 5)}/5) order {rng.randint(10**12, 2 * 10**12)}"
        ),
        lambda: (
            f"{_ts(rng)} INFO epoch_ms={rng.randint(1_700_000_000_000, 1_800_000_000_000)} latency_p99={ms}"
        ),
        lambda: (
            f"{_ts(rng)} INFO musobuddy.auth.session_store evicted {rng.randint(1, 500)} expired sessions"
        ),
        lambda: (
            f"{_ts(rng)} ERROR java.lang.IllegalStateException at com.musobuddy.billing.InvoiceRenderer.render(InvoiceRenderer.java:{rng.randint(10, 400)})"
        ),
        lambda: (
            f"{_ts(rng)} INFO booking {rng.randint(10000, 99999)} confirmed for gig_date=2026-12-{rng.randint(10, 31)} fee=GBP {rng.randint(100, 900)}.00"
        ),
    ]
    return rng.choice(shapes)()


def generate(
    seed: int = 5, planted_rounds: int = 9, clean_lines: int = 300, tricky_lines: int = 200
) -> tuple[list[CorpusLine], list[str]]:
    """(planted lines, clean lines). ``planted_rounds`` times every planted shape, fresh values each time;
    the clean lines are ``clean_lines`` ordinary ones then ``tricky_lines`` look-alikes."""
    rng = random.Random(seed)
    planted: list[CorpusLine] = []
    for _ in range(planted_rounds):
        planted.extend(_planted(rng))
        planted.extend(_planted_classes(rng))
    clean = [_clean(rng) for _ in range(clean_lines)] + [_tricky_clean(rng) for _ in range(tricky_lines)]
    return planted, clean


__all__ = ["CorpusLine", "generate", "iban", "luhn_card"]
