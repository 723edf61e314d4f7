"""The benchmark harness runs end to end (`vs_torch.py --quick` on the smallest case: two
worker processes and one sgemm process, about 8 s of CPU)."""

import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def test_vs_torch_quick_smoke(torch, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import vs_torch

    report = vs_torch.main(["--quick", "--cases", "lenet_infer_b1", "--out", str(tmp_path)])
    row = report["cases"]["lenet_infer_b1"]
    assert row["reps"] == 1 and row["convolve_seconds"] > 0 and row["torch_seconds"] > 0
    assert row["ratio_median"] == row["torch_seconds"] / row["convolve_seconds"]
    saved = json.loads((tmp_path / "vs_torch.json").read_text())
    assert saved["cases"].keys() == {"lenet_infer_b1"}
    assert "| lenet_infer_b1 |" in (tmp_path / "vs_torch.md").read_text()
    assert report["numpy_sgemm_gflops"] > 0
