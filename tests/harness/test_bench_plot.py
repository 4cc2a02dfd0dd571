"""The catalog benchmark draws its plot (the figures here are made up; docs/benchmarks.md has real ones)."""

from __future__ import annotations

from pathlib import Path

from bench.bench_catalog import plot, table_row


def result(models: int, seconds: float, floor: float) -> dict[str, object]:
    return {
        "models": models,
        "deploymentsPerImage": 6,
        "uniqueImages": 10,
        "secondsToAllReady": seconds,
        "floorSeconds": floor,
        "ratioToFloor": round(seconds / floor, 2),
        "writesPerModel": 13.3,
        "floorMinimalObjectsSeconds": floor / 2,
        "ratioToMinimalFloor": round(2 * seconds / floor, 2),
        "writesAtRest": 0,
        "restSeconds": 20.0,
        "writesOnResync": 0,
        "registryRequestsPerUniqueImage": 2.0,
        "operatorPeakRssMiB": 120,
        "operatorCpuSecondsToReady": 3.0,
        "modelsWithAnEarlierStatusPercent": 0.0,
        "reconcilesPerModel": {"clustermodel": 2.3, "clusterservicetemplate": 6.0},
    }


def test_plot_writes_a_png_and_rows_carry_every_column(tmp_path: Path) -> None:
    results = [result(100, 4.0, 3.0), result(300, 12.0, 8.0)]
    out = tmp_path / "docs" / "plot.png"
    plot(results, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    row = table_row(results[0])
    assert row.count("|") == 15  # the docs/benchmarks.md table's 14 columns
    assert "| 100 \N{MULTIPLICATION SIGN} 6 (10) |" in row
    assert "| 0 in 20 s |" in row and "| 2.3, 6.0 |" in row
