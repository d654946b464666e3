"""benchmarks/accuracy_budget.py's CPU peak: FLOP per cycle by vendor and vector width."""

from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import REPO

_spec = importlib.util.spec_from_file_location("accuracy_budget", REPO / "benchmarks" / "accuracy_budget.py")
accuracy_budget = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(accuracy_budget)

INTEL = "vendor_id\t: GenuineIntel\ncpu MHz\t\t: 2600.000\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
ZEN4 = "vendor_id\t: AuthenticAMD\ncpu MHz\t\t: 2600.000\nflags\t\t: fpu avx2 avx512f avx512_bf16\n"
AVX2 = "vendor_id\t: GenuineIntel\ncpu MHz\t\t: 3000.000\nflags\t\t: fpu avx2 fma\n"


@pytest.mark.parametrize("cpuinfo, cores, gflops, says", [
    (INTEL, 2, 332.8, "64 FLOP/cycle"),  # 2 × 2.6 GHz × 2 FMA units × 16 floats × 2
    (ZEN4, 2, 166.4, "32 FLOP/cycle"),  # AVX-512 on two 256-bit pipes
    (AVX2, 4, 384.0, "32 FLOP/cycle"),
])
def test_the_peak_counts_the_fma_units_of_the_vendor(cpuinfo, cores, gflops, says):
    peak, how = accuracy_budget.peak_flops(cpuinfo, cores)
    assert peak / 1e9 == pytest.approx(gflops) and says in how and f"{cores} cores" in how
    assert ("AMX" in how) == ("amx_bf16" in cpuinfo)
