"""Write the report: HTML always; PDF and a PNG of page one where a converter exists; compliance export.

Why optional converters: a PDF needs a browser engine (headless Chromium) that not every machine
has; the HTML is complete on its own, so the report never fails for lack of one, and says which
files it wrote. Converters run with a timeout in their own process group, killed as a group, so a
hung browser never outlives the command.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from forewarn.field_crypto import FieldCipher
from forewarn.settings import Settings
from forewarn.store.db import Store
from forewarn.store.report.data import ReportData, gather
from forewarn.store.report.html import render_html
from forewarn.store.report.plots import all_charts

__all__ = ["ReportFiles", "browser", "compliance_export", "write_report"]

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@dataclass
class ReportFiles:
    html: Path
    pdf: Path | None = None
    png: Path | None = None
    compliance_json: Path | None = None
    compliance_csv: Path | None = None
    charts: dict[str, Path] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def browser() -> str | None:
    """A headless-capable Chromium on PATH, if any."""
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def _run(command: list[str], timeout: float) -> tuple[bool, str]:
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, text=True
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return False, f"timed out after {timeout:.0f} s"
    return process.returncode == 0, output[-2000:]


def _chromium(binary: str, html: Path, extra: list[str], timeout: float) -> tuple[bool, str]:
    with tempfile.TemporaryDirectory(prefix="forewarn-chromium-") as profile:
        return _run(
            [
                binary,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                *extra,
                html.resolve().as_uri(),
            ],
            timeout,
        )


def to_pdf(html: Path, pdf: Path, timeout: float = 120.0) -> str | None:
    """HTML -> PDF with headless Chromium; returns a warning instead of raising when impossible."""
    binary = browser()
    if binary is None:
        return "no PDF: no Chromium on PATH (apt-get install chromium)"
    ok, output = _chromium(binary, html, [f"--print-to-pdf={pdf}", "--no-pdf-header-footer"], timeout)
    if not ok or not pdf.is_file() or pdf.stat().st_size == 0:
        return f"no PDF: chromium failed: {output.strip()[-300:]}"
    return None


def to_png(html: Path, pdf: Path | None, png: Path, timeout: float = 120.0) -> str | None:
    """Page one as PNG: pdftoppm on the PDF when possible, else a Chromium screenshot."""
    pdftoppm = shutil.which("pdftoppm")
    if pdf is not None and pdftoppm:
        prefix = png.with_suffix("")
        ok, output = _run(
            [pdftoppm, "-png", "-r", "90", "-f", "1", "-l", "1", "-singlefile", str(pdf), str(prefix)],
            timeout,
        )
        if ok and png.is_file():
            return None
    binary = browser()
    if binary is None:
        return "no PNG: neither pdftoppm (with a PDF) nor Chromium is available"
    ok, output = _chromium(binary, html, [f"--screenshot={png}", "--window-size=1100,1600"], timeout)
    if not ok or not png.is_file():
        return f"no PNG: chromium screenshot failed: {output.strip()[-300:]}"
    return None


def compliance_export(
    audit_log: Path, since: datetime, until: datetime, out_dir: Path, cipher: FieldCipher | None = None
) -> tuple[dict[str, Any] | None, list[Path]]:
    """The healing audit log's records for the period as JSON (with the chain verdict) and CSV;
    ``cipher`` opens sealed details (the report is for people who may read them)."""
    if not audit_log.is_file():
        return None, []
    from forewarn.healing.audit import export_records

    as_json = export_records(audit_log, since=since, until=until, fmt="json", cipher=cipher)
    as_csv = export_records(audit_log, since=since, until=until, fmt="csv", cipher=cipher)
    json_path = out_dir / "compliance.json"
    csv_path = out_dir / "compliance.csv"
    json_path.write_text(as_json)
    csv_path.write_text(as_csv)
    document = json.loads(as_json)
    summary = {
        "chain_ok": bool(document.get("chain_ok")),
        "records": len(document.get("records", [])),
        "by_event": document.get("summary", {}).get("by_event", {}),
        "export": str(json_path),
    }
    return summary, [json_path, csv_path]


def write_report(
    store: Store,
    settings: Settings,
    since: datetime,
    until: datetime,
    out_dir: Path,
    *,
    audit_log: Path | None = None,
    pdf: bool = True,
    png: bool = True,
) -> tuple[ReportFiles, ReportData]:
    """Gather, plot and write the report files into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data = gather(store, settings, since, until)
    charts = all_charts(data)
    summary: dict[str, Any] | None = None
    exported: list[Path] = []
    if audit_log is not None:
        summary, exported = compliance_export(audit_log, since, until, out_dir, store.cipher)
    html_path = out_dir / "report.html"
    html_path.write_text(render_html(data, charts, summary))
    files = ReportFiles(html=html_path)
    if exported:
        files.compliance_json, files.compliance_csv = exported
    charts_dir = out_dir / "charts"
    charts_dir.mkdir(exist_ok=True)
    for name, image in charts.items():
        path = charts_dir / f"{name}.png"
        path.write_bytes(image)
        files.charts[name] = path
    if pdf:
        pdf_path = out_dir / "report.pdf"
        warning = to_pdf(html_path, pdf_path)
        if warning:
            files.warnings.append(warning)
        else:
            files.pdf = pdf_path
    if png:
        png_path = out_dir / "report-page1.png"
        warning = to_png(html_path, files.pdf, png_path)
        if warning:
            files.warnings.append(warning)
        else:
            files.png = png_path
    return files, data
