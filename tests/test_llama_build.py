"""The llama.cpp build names the CPU's instruction sets itself, and never AMX.

Why: a -march=native build on a VM that advertises AMX without enabling it died with SIGILL; the
AVX2-only build that replaced it was too slow for the LLM tests under load.
"""

from __future__ import annotations

import pytest

from forewarn.dev.llama_server import CMAKE_ARGS, LLAMA_BUILD_KEY, cpu_cmake_args

CPUINFO = """processor : 0
flags : fpu sse2 avx avx2 fma f16c bmi2 avx512f avx512vbmi avx512_vnni avx512_bf16 amx_tile amx_int8
"""


@pytest.mark.unit
def test_cpu_flags_become_ggml_options_without_amx() -> None:
    args = cpu_cmake_args(CPUINFO)
    assert "-DGGML_AVX512=ON" in args and "-DGGML_AVX512_VBMI=ON" in args and "-DGGML_BMI2=ON" in args
    assert "AMX" not in args
    assert cpu_cmake_args("flags : fpu sse2") == ""


@pytest.mark.unit
def test_the_build_is_portable_and_keyed_by_its_flags() -> None:
    assert "-DGGML_NATIVE=OFF" in CMAKE_ARGS and "AMX" not in CMAKE_ARGS
    assert LLAMA_BUILD_KEY.rsplit("-", 1)[-1] != ""
