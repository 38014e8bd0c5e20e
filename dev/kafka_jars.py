"""Fetch the Apache Kafka broker jars from Maven Central, once, into forewarn's cache.

Why Maven and not the Kafka tarball: Maven Central is one of the few hosts a CI machine of this
project can reach, and ``mvn dependency:copy-dependencies`` resolves the exact runtime closure of
``org.apache.kafka:kafka_2.13`` plus a log4j2 backend. The libs folder is only marked complete after
a full copy, so an interrupted download is redone instead of leaving a broker that fails to start.
A file lock serialises concurrent first runs (several test sessions on one machine).
"""

from __future__ import annotations

import fcntl
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from forewarn.settings import cache_dir

__all__ = ["JarDownloadError", "ensure_kafka_jars", "kafka_home", "maven_pom"]

LOG4J_VERSION = "2.24.3"
SLF4J_VERSION = "2.0.17"
DEPENDENCY_PLUGIN_VERSION = "3.8.1"
_COMPLETE_MARKER = ".complete"
_VERSION_RE = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+([.-][A-Za-z0-9]+)*$")
_DOWNLOADED_RE = re.compile(r"Downloaded from \S+: (\S+) \(([^)]*)\)")

ProgressCallback = Callable[[str], None]


class JarDownloadError(RuntimeError):
    """Maven could not fetch the Kafka jars (no Maven, no network, unknown version)."""


def kafka_home(version: str, root: Path | None = None) -> Path:
    """The per-version folder that holds ``libs/`` (and the generated pom)."""
    if not _VERSION_RE.match(version):
        raise ValueError(f"not a Kafka version: {version!r} (expected e.g. 4.1.0)")
    return (root or cache_dir()) / f"kafka-{version}"


def maven_pom(version: str) -> str:
    """A throwaway pom whose runtime dependency closure is exactly what the broker needs."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.forewarn</groupId>
  <artifactId>kafka-broker-libs</artifactId>
  <version>{version}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{version}</version>
    </dependency>
    <!-- Declared first so the slf4j 2 binding below gets the API version it was built for. -->
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-api</artifactId>
      <version>{SLF4J_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>{LOG4J_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j2-impl</artifactId>
      <version>{LOG4J_VERSION}</version>
    </dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-dependency-plugin</artifactId>
        <version>{DEPENDENCY_PLUGIN_VERSION}</version>
      </plugin>
    </plugins>
  </build>
</project>
"""


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_kafka_jars(
    version: str,
    *,
    root: Path | None = None,
    on_progress: ProgressCallback | None = None,
    mvn: str = "mvn",
) -> Path:
    """Return ``<cache>/kafka-<version>/libs``, downloading it with Maven the first time.

    ``on_progress`` receives one human-readable line per downloaded artifact, so a CLI can show
    that something is happening during the first (slow) run.
    """
    home = kafka_home(version, root)
    libs = home / "libs"
    if (home / _COMPLETE_MARKER).is_file():
        return libs
    with _locked(home.parent / f"kafka-{version}.lock"):
        if (home / _COMPLETE_MARKER).is_file():  # another process finished while we waited
            return libs
        _download(version, home, on_progress, mvn)
    return libs


def _download(version: str, home: Path, on_progress: ProgressCallback | None, mvn: str) -> None:
    executable = shutil.which(mvn)
    if executable is None:
        raise JarDownloadError(
            f"Maven ({mvn!r}) is not on PATH; it is needed once to fetch the Kafka {version} jars "
            "from Maven Central (Debian: apt-get install maven)"
        )
    home.mkdir(parents=True, exist_ok=True)
    staging = home / "libs.partial"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(home / "libs", ignore_errors=True)
    build = home / "build"
    build.mkdir(exist_ok=True)
    (build / "pom.xml").write_text(maven_pom(version))
    command = [
        executable,
        "-B",
        "-f",
        str(build / "pom.xml"),
        f"org.apache.maven.plugins:maven-dependency-plugin:{DEPENDENCY_PLUGIN_VERSION}:copy-dependencies",
        f"-DoutputDirectory={staging}",
        "-DincludeScope=runtime",
    ]
    started = time.monotonic()
    transcript: list[str] = []
    with subprocess.Popen(
        command, cwd=build, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            transcript.append(line.rstrip())
            match = _DOWNLOADED_RE.search(line)
            if match and on_progress is not None:
                on_progress(f"{match.group(1).rsplit('/', 1)[-1]} ({match.group(2)})")
        code = proc.wait()
    if code != 0 or not any(staging.glob(f"kafka_2.13-{version}.jar")):
        tail = "\n".join(transcript[-25:])
        raise JarDownloadError(
            f"Maven failed to fetch org.apache.kafka:kafka_2.13:{version} (exit {code}); "
            f"pom: {build / 'pom.xml'}\n{tail}"
        )
    staging.rename(home / "libs")
    (home / _COMPLETE_MARKER).write_text(f"downloaded in {time.monotonic() - started:.1f}s\n")
