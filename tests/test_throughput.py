"""Smoke test of benchmarks/throughput.py: it runs at tiny size and writes well-formed output.

No speed is asserted: the rates of a quick run are not measurements.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "throughput.py"


@pytest.fixture(scope="module")
def throughput(load_script):
    return load_script(SCRIPT, "throughput_for_tests")


def test_vgg16_flops_are_counted_from_the_layer_shapes(throughput):
    # 15,346,630,656 multiply-adds in VGG16's convolutions at 224 px (the published count)
    assert throughput.vgg16_forward_flops(224) == 2 * 15_346_630_656
    assert len(throughput.vgg16_conv_layers(32)) == 13
    assert throughput.work_flops("train", 64) == 3 * throughput.work_flops("forward", 64)


@pytest.mark.parametrize(
    "vendor, family, flags, per_cycle",
    [
        ("AuthenticAMD", 0x19, ["avx2", "fma", "avx512f"], 32),  # Zen 4: two 256-bit halves
        ("AuthenticAMD", 0x1A, ["avx2", "fma", "avx512f"], 64),  # Zen 5
        ("GenuineIntel", 6, ["avx2", "fma", "avx512f"], 64),
        ("AuthenticAMD", 0x17, ["avx2", "fma"], 32),
    ],
)
def test_theoretical_peak_follows_the_cpu(throughput, vendor, family, flags, per_cycle):
    cpu = {"vendor": vendor, "family": family, "simd_flags": flags, "mhz": 2000.0, "cores": 2}
    peak = throughput.theoretical_peak(cpu)
    assert peak["flop_per_cycle_per_core"] == per_cycle
    assert peak["gflops"] == pytest.approx(per_cycle * 2 * 2.0)
    assert peak["assumptions"]


def test_quick_run_writes_well_formed_results(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["throughput.json", "throughput.md"]

    report = json.loads((tmp_path / "throughput.json").read_text())
    assert report["quick"] is True
    assert report["machine"]["cpu"]["cores"] >= 1
    assert report["machine"]["tensorflow"] and report["machine"]["keras"]
    assert report["theoretical_peak"]["gflops"] > 0
    assert report["measured_peak"]["gflops"] > 0
    assert len(report["load_average_before"]) == 3

    names = [s["name"] for s in report["settings"]]
    assert names == ["oneDNN off", "oneDNN on"]
    for setting in report["settings"]:
        assert "error" not in setting, setting.get("error")
        for row in setting["measurements"]:
            assert row["img_per_s"] > 0
            # the analytic count agrees with the Keras model's own layer shapes
            assert row["gflop_per_image_from_keras_layers"] == pytest.approx(
                row["gflop_per_image"], rel=1e-3
            )
    # each setting ran in its own process, and TensorFlow took the variable
    assert report["settings"][0]["onednn_reported"] == "off"
    # two seeded training runs compared (equal or not: a smoke test asserts no result)
    check = report["settings"][1]["variants"][""]["determinism_check"]
    assert check["identical"] in (True, False) and len(check["weights_sha256"]) == 2

    assert [(r["work"], r["px"]) for r in report["table"]] == [("forward", 32), ("train", 32)]
    for row in report["table"]:
        assert row["img_per_s_onednn_off"] > 0 and row["img_per_s_onednn_on"] > 0
        assert row["percent_of_measured_peak"] > 0

    text = (tmp_path / "throughput.md").read_text()
    assert "| work | px | batch |" in text
    assert "Theoretical:" in text and "Measured:" in text
    assert "PyTorch" in text
