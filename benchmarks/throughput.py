"""Benchmark: VGG16 images/second next to the machine's float32 peak, oneDNN off and on.

    make bench-throughput                      # about 8 minutes on a 2-core CPU
    .venv/bin/python benchmarks/throughput.py --quick --out /tmp/tp   # a few seconds' worth
    .venv/bin/python benchmarks/throughput.py --torch-python /path/to/python-with-torch

What it measures, each TensorFlow setting in a fresh subprocess (TensorFlow
reads TF_ENABLE_ONEDNN_OPTS and its thread counts once, when it starts):

- the peak float32 rate: the best of several large matmuls and convolutions
  after warm-up (TensorFlow with oneDNN off and on, numpy, PyTorch when there),
  next to the theoretical peak from /proc/cpuinfo (cores x FMA units x vector
  lanes x 2 FLOPs x clock, assumptions stated), and one core's rate;
- VGG16 (keras.applications, include_top=False, random weights: weights do not
  change speed) forward and forward+backward (all layers, Adam) at 32, 64 and
  224 px, oneDNN off and on, as images/second, as GFLOP/s (counted from the
  convolution shapes, 2 FLOPs per multiply-add, training = 3 x forward) and as
  a fraction of the measured peak;
- a few other settings with oneDNN on (threads, batch size, XLA, bfloat16,
  op determinism off), and whether two seeded training runs give identical weights;
- the same VGG16 in PyTorch when an interpreter with torch is at hand
  (``--torch-python``; never needed by the chapters).

Every rate is the best of a few repeats after warm-up (the JSON keeps all of
them). The machine's speed drifts by 10-20 % over tens of seconds (a virtual
machine's turbo, probably), so what is compared is timed in turns: oneDNN off
and on in alternating processes, two each; variants of one process repeat by
repeat. Results go to throughput.json and throughput.md beside this file (or
``--out DIR``), each written to a temporary file and then renamed. This is a
benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = Path(__file__).resolve().parent

# VGG16's 13 convolutions (3x3, stride 1, "same") and its 5 max-pools ("M").
VGG16_LAYERS = [64, 64, "M", 128, 128, "M"] + [256] * 3 + ["M"] + ([512] * 3 + ["M"]) * 2
SIMD_FLAGS = (
    "sse4_2 avx avx2 fma avx512f avx512_vnni avx512_bf16 avx512_fp16 amx_tile amx_bf16 amx_int8"
).split()
NO_TORCH = "PyTorch not installed: pip install torch to compare (or pass --torch-python)"


# ----------------------------------------------------------------- counting FLOPs


def vgg16_conv_layers(px: int) -> list[tuple[int, int, int, int]]:
    """(output height = width, kernel size, input channels, output channels) of each conv."""
    layers, size, channels = [], px, 3
    for item in VGG16_LAYERS:
        if item == "M":
            size //= 2
        else:
            layers.append((size, 3, channels, item))
            channels = item
    return layers


def vgg16_forward_flops(px: int) -> int:
    """FLOPs of one image through VGG16's convolutions: 2 per multiply-add (bias, ReLU and
    pooling, under 0.1 %, are left out)."""
    return sum(2 * size * size * k * k * cin * cout for size, k, cin, cout in vgg16_conv_layers(px))


def work_flops(work: str, px: int) -> int:
    """FLOPs per image: forward, or training = forward + backward (gradients with respect to
    both inputs and weights, each as costly as the forward pass) = 3 x forward."""
    return vgg16_forward_flops(px) * (3 if work == "train" else 1)


# ----------------------------------------------------------------- the machine


def cpu_description() -> dict:
    """CPU model, vendor, family, clock, cores and SIMD flags from /proc/cpuinfo."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if ":" in line:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    flags = set(fields.get("flags", "").split())
    mhz = float(fields.get("cpu MHz", 0) or 0)
    memory_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {
        "model": fields.get("model name", platform.processor() or platform.machine()),
        "vendor": fields.get("vendor_id", ""),
        "family": int(fields.get("cpu family", 0) or 0),
        "model_number": int(fields.get("model", 0) or 0),
        "mhz": mhz,
        "cores": os.cpu_count(),
        "threads_per_core_reported": _threads_per_core(fields),
        "hypervisor": "hypervisor" in flags,
        "simd_flags": [f for f in SIMD_FLAGS if f in flags],
        "flags": sorted(flags),
        "memory_gib": memory_gib,
    }


def _threads_per_core(fields: dict) -> int | None:
    try:
        return int(fields["siblings"]) // int(fields["cpu cores"])
    except (KeyError, ValueError, ZeroDivisionError):
        return None


def theoretical_peak(cpu: dict) -> dict:
    """float32 FLOP/s = cores x FMA units x lanes x 2 x clock, with the assumptions said."""
    flags, vendor, family = set(cpu["simd_flags"]), cpu["vendor"], cpu["family"]
    assumptions = []
    if "avx512f" in flags and vendor == "AuthenticAMD" and family == 0x19:
        lanes, units = 8, 2
        assumptions.append(
            "AMD Zen 4 (family 0x19 with AVX-512): two 256-bit FMA pipes; an "
            "AVX-512 instruction runs as two 256-bit halves, so 8 float32 "
            "lanes per FMA per cycle"
        )
    elif "avx512f" in flags and vendor == "AuthenticAMD":
        lanes, units = 16, 2
        assumptions.append(
            "AMD Zen 5 or later with AVX-512: two full 512-bit FMA pipes "
            "(16 float32 lanes each) per core"
        )
    elif "avx512f" in flags:
        lanes, units = 16, 2
        assumptions.append(
            "Intel with AVX-512: two 512-bit FMA units per core (Xeon Gold and "
            "Platinum, Sapphire/Emerald Rapids; some smaller SKUs have one, "
            "which would halve the peak)"
        )
    elif "fma" in flags and "avx2" in flags:
        lanes, units = 8, 2
        assumptions.append("AVX2 with FMA: two 256-bit FMA units per core")
    elif "avx" in flags:
        lanes, units = 8, 1
        assumptions.append(
            "AVX without FMA: one 256-bit add and one multiply per cycle, counted as one FMA"
        )
    else:
        lanes, units = 4, 1
        assumptions.append("SSE only: 4 float32 lanes, one add and one multiply per cycle")
    ghz = cpu["mhz"] / 1000
    assumptions.append(
        f"clock {ghz:.2f} GHz as /proc/cpuinfo reports it (under a hypervisor "
        "the nominal clock; turbo and AVX-512 down-clocking are not visible)"
    )
    assumptions.append(
        f"each of the {cpu['cores']} logical CPUs is a full core (not two "
        "hyper-threads of one core); the 1-thread peak below checks this"
    )
    per_cycle = lanes * units * 2
    gflops = per_cycle * cpu["cores"] * ghz
    note = None
    if "amx_bf16" in flags:
        note = (
            f"this CPU also has AMX: Intel quotes 1024 bfloat16 operations per cycle per "
            f"core, about {1024 * cpu['cores'] * ghz:.0f} GFLOP/s here, 16x the float32 "
            "rate, for bfloat16 matrix work only"
        )
    return {
        "gflops": round(gflops, 1),
        "flop_per_cycle_per_core": per_cycle,
        "formula": f"{cpu['cores']} cores x {units} FMA units x {lanes} float32 lanes x 2 FLOPs "
        f"x {ghz:.2f} GHz",
        "assumptions": assumptions,
        "amx_note": note,
    }


def cpu_busy_seconds() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine since boot, from /proc/stat."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    user, nice, system, _idle, _iowait, irq, softirq = values[:7]
    steal = values[7] if len(values) > 7 else 0
    return (user + nice + system + irq + softirq) / tick, steal / tick


def own_cpu_seconds() -> float:
    """CPU seconds used by this process and its finished subprocesses."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


# ----------------------------------------------------------------- what to run


def measure(
    work: str, px: int, batch: int, warmup: int, repeats: int, steps: int, variant: str = ""
) -> dict:
    """One measurement: `warmup` untimed calls, then `repeats` timings of `steps` calls.
    `variant` is "" (the job's settings), "XLA" (jit_compile=True) or "mixed_bfloat16"."""
    return dict(
        work=work, px=px, batch=batch, warmup=warmup, repeats=repeats, steps=steps, variant=variant
    )


def job(name: str, measurements: list[dict], **settings) -> dict:
    """One TensorFlow subprocess: oneDNN on (TensorFlow's default), TensorFlow's thread
    counts and op determinism on, unless `settings` say otherwise. `check` lists the
    variants whose seeded training is run twice and compared."""
    defaults = dict(onednn="on", intra=None, inter=None, determinism=True, peak=None, check=None)
    return defaults | settings | {"name": name, "measure": measurements}


def plan(quick: bool) -> list[dict]:
    """The TensorFlow subprocesses in the order they run. oneDNN off and on run twice,
    alternately, and their rounds are merged: the machine's speed drifts by 10-20 % over
    tens of seconds, and alternating keeps that drift out of the off/on ratio."""
    if quick:
        grid = [measure("forward", 32, 2, 1, 1, 1), measure("train", 32, 2, 1, 1, 1)]
        peak = {"matmul": [128], "conv": [(1, 8, 8, 16)], "repeats": 2}
        check = {"px": 32, "batch": 2, "steps": 1, "variants": [""]}
        return [
            job("oneDNN off", grid, onednn="off", peak=peak),
            job("oneDNN on", grid, peak=peak, check=check),
        ]
    grid = [
        measure("forward", 32, 128, 1, 3, 2),
        measure("forward", 64, 64, 1, 3, 2),
        measure("forward", 224, 16, 1, 2, 1),
        measure("train", 32, 64, 2, 2, 2),
        measure("train", 64, 32, 1, 2, 2),
        measure("train", 224, 8, 1, 1, 1),
    ]
    batches = [
        measure("forward", 64, 128, 1, 3, 1),
        measure("train", 32, 32, 2, 2, 4),
        measure("train", 32, 128, 1, 2, 1),
    ]
    convs = [(16, 112, 112, 128), (16, 56, 56, 256), (32, 28, 28, 512)]  # (batch, h, w, c)
    peak = {"matmul": [2048, 4096], "conv": convs, "repeats": 3}
    check = {"px": 32, "batch": 16, "steps": 2, "variants": [""]}
    train32, forward64 = measure("train", 32, 64, 2, 3, 2), measure("forward", 64, 64, 1, 3, 2)
    bf16, xla = {"variant": "mixed_bfloat16"}, {"variant": "XLA"}
    variants = [train32, train32 | bf16, forward64, forward64 | xla, forward64 | bf16]
    short = grid[:-1]  # the second round leaves out 224 px training, the slowest
    return [
        job("oneDNN off", grid, onednn="off", peak=peak),
        job("oneDNN on", grid + batches, peak=peak),
        job("oneDNN off", short, onednn="off", check=check),
        job("oneDNN on", short, peak=peak, check=check),
        # Keras refuses XLA in training under op determinism (and TensorFlow has no
        # deterministic XLA MaxPool gradient), so XLA training is tried without it.
        job("oneDNN on, XLA and bfloat16 beside float32", variants,
            check=check | {"variants": ["mixed_bfloat16"]}),
        # XLA training (Keras's default without op determinism) compiles slowly and ran
        # about 4x slower than without XLA in trial runs: one timed step shows it.
        job("oneDNN on, op determinism off",
            [train32, measure("train", 32, 64, 1, 1, 1, "XLA"), forward64], determinism=False),
        job("oneDNN on, 2 intra-op + 1 inter-op threads", [train32, forward64], intra=2, inter=1,
            check=check),
        job("oneDNN on, 1 thread", [], intra=1, inter=1,
            peak={"matmul": [2048], "conv": [], "repeats": 3}),
    ]  # fmt: skip


def torch_plan(quick: bool) -> dict:
    """The PyTorch subprocess: float32, NCHW and channels_last (forward: channels_last, which
    was faster in every trial)."""
    if quick:
        return {"measure": [measure("train", 32, 2, 1, 1, 1)], "peak": [128], "repeats": 2}
    layouts = [
        measure("forward", 32, 128, 1, 3, 2, "channels_last"),
        measure("forward", 64, 64, 1, 3, 2, "channels_last"),
    ]
    for layout in ("NCHW", "channels_last"):
        layouts += [
            measure("train", 32, 64, 2, 2, 2, layout),
            measure("train", 64, 32, 1, 2, 2, layout),
        ]
    return {"measure": layouts, "peak": [2048, 4096], "repeats": 5}


# ----------------------------------------------------------------- timing


def time_interleaved(calls: list, specs: list[dict]) -> list[list[float]]:
    """Warm every call up, then time them in turns (one repeat of each, again and again),
    so that a slow spell of the machine falls on all of them alike. Seconds per repeat."""
    for call, spec in zip(calls, specs, strict=True):
        for _ in range(spec["warmup"]):
            call()
    times: list[list[float]] = [[] for _ in specs]
    for repeat in range(max((spec["repeats"] for spec in specs), default=0)):
        for call, spec, out in zip(calls, specs, times, strict=True):
            if repeat < spec["repeats"]:
                start = time.perf_counter()
                for _ in range(spec["steps"]):
                    call()
                out.append(time.perf_counter() - start)
    return times


def best_time(call, warmup: int, repeats: int) -> list[float]:
    """Seconds of single calls, `repeats` times, after `warmup` calls (for the peak kernels)."""
    return time_interleaved([call], [dict(warmup=warmup, repeats=repeats, steps=1)])[0]


def rate_row(spec: dict, times: list[float]) -> dict:
    """Images/second (best, median, each repeat) and GFLOP/s of one measurement."""
    return rates_row(spec, [spec["batch"] * spec["steps"] / t for t in times])


def rates_row(spec: dict, rates: list[float]) -> dict:
    best = max(rates)
    flops = work_flops(spec["work"], spec["px"])
    return spec | {
        "img_per_s": round(best, 2),
        "img_per_s_median": round(statistics.median(rates), 2),
        "img_per_s_all": [round(r, 2) for r in rates],
        "gflop_per_image": round(flops / 1e9, 3),
        "gflops": round(best * flops / 1e9, 1),
    }


# ----------------------------------------------------------------- TensorFlow worker


def tf_worker(job: dict) -> dict:
    """Run one job in this (fresh) process: TensorFlow is imported here, after the
    environment (TF_ENABLE_ONEDNN_OPTS) was set by the parent."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import keras
    import numpy as np
    import tensorflow as tf

    keras.utils.set_random_seed(0)  # op determinism wants a seed before any random op
    if job["intra"] is not None:
        tf.config.threading.set_intra_op_parallelism_threads(job["intra"])
        tf.config.threading.set_inter_op_parallelism_threads(job["inter"])
    if job["determinism"]:
        tf.config.experimental.enable_op_determinism()
    sys.path.insert(0, str(ROOT))
    from utils.features import onednn_setting  # what the book's feature cache records

    result = {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "onednn_reported": onednn_setting(),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "determinism": job["determinism"],
        "peak": [],
        "measurements": [],
        "failed": [],
        "variants": {},
    }

    peak = job.get("peak")
    if peak:
        kernels = []
        for n in peak["matmul"]:
            a, b = tf.random.normal((n, n)), tf.random.normal((n, n))
            fn = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(a, b)))
            kernels.append((fn, (a, b), 2 * n**3, f"matmul {n}x{n} float32"))
        for batch, size, _, channels in peak["conv"]:
            x = tf.random.normal((batch, size, size, channels))
            w = tf.random.normal((3, 3, channels, channels)) * 0.01
            fn = tf.function(lambda x, w: tf.reduce_sum(tf.nn.conv2d(x, w, 1, "SAME")))
            flops = 2 * batch * size * size * 9 * channels * channels
            kernels.append((fn, (x, w), flops, f"conv 3x3 {batch}x{size}x{size}x{channels} "
                            f"-> {channels} float32"))  # fmt: skip
        for fn, args, flops, label in kernels:
            times = best_time(lambda fn=fn, args=args: fn(*args).numpy(), 2, peak["repeats"])
            result["peak"].append({
                "kernel": label,
                "gflops": round(flops / min(times) / 1e9, 1),
                "gflops_all": [round(flops / t / 1e9, 1) for t in times],
            })  # fmt: skip

    def vgg(px, head, variant):
        keras.backend.clear_session()  # this also resets the dtype policy: set it after
        precision = "mixed_bfloat16" if variant == "mixed_bfloat16" else "float32"
        keras.mixed_precision.set_global_policy(precision)
        keras.utils.set_random_seed(0)
        base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(px, px, 3))
        result["variants"].setdefault(variant, {})["compute_dtype"] = base.layers[1].compute_dtype
        if not head:
            return base
        layers = [base, keras.layers.Flatten(), keras.layers.Dense(10, dtype="float32")]
        return keras.Sequential(layers)

    def counted_flops(base):
        """Forward FLOPs per image from the Keras model's own conv layer shapes."""
        total = 0
        for layer in base.layers:
            if isinstance(layer, keras.layers.Conv2D):
                _, h, w, cout = layer.output.shape
                kh, kw, cin, _ = layer.kernel.shape
                total += 2 * h * w * kh * kw * cin * cout
        return total

    def trainer(px, variant):
        model = vgg(px, True, variant)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        jit = variant == "XLA"
        model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=loss, jit_compile=jit)
        if jit and not model.jit_compile:
            # Keras turns XLA off under op determinism, rightly: forced on, the first step
            # fails ("MaxPool gradient ops do not yet have a deterministic XLA implementation").
            raise RuntimeError("Keras turns XLA off in training when op determinism is on")
        xla = "on" if model.jit_compile else "off"
        result["variants"][variant]["xla_training"] = xla
        return model

    def batch_of(px, batch, seed=0):
        rng = np.random.default_rng(seed)
        x = (rng.random((batch, px, px, 3), dtype=np.float32) * 255).astype("float32")
        return tf.constant(x), tf.constant(rng.integers(0, 10, batch))

    calls, counted, specs = [], [], []
    for spec in job["measure"]:
        x, y = batch_of(spec["px"], spec["batch"])
        try:
            if spec["work"] == "forward":
                base = vgg(spec["px"], False, spec["variant"])
                jit = spec["variant"] == "XLA"
                fn = tf.function(lambda x, base=base: base(x, training=False), jit_compile=jit)
                call, flops = (lambda fn=fn, x=x: fn(x).numpy()), counted_flops(base)
            else:
                model = trainer(spec["px"], spec["variant"])
                call = lambda model=model, x=x, y=y: model.train_on_batch(x, y)  # noqa: E731
                flops = 3 * counted_flops(model.layers[0])
            call()  # the first call traces (and compiles): a failure shows here
        except Exception as error:  # noqa: BLE001 - a setting that fails is a result too
            message = str(error).strip().splitlines()[0][:300]
            result["failed"].append(spec | {"error": f"{type(error).__name__}: {message}"})
            print(f"  {spec['work']} {spec['px']} px {spec['variant']}: failed: {message}")
            continue
        calls.append(call)
        counted.append(flops)
        specs.append(spec | {"warmup": max(0, spec["warmup"] - 1)})
    for spec, times, flops in zip(specs, time_interleaved(calls, specs), counted, strict=True):
        row = rate_row(spec, times) | {"gflop_per_image_from_keras_layers": flops / 1e9}
        row["warmup"] += 1
        result["measurements"].append(row)
        print(
            f"  {spec['work']:<8}{spec['px']:>4} px  batch {spec['batch']:>4} "
            f"{spec['variant']:<15}{row['img_per_s']:>8.1f} img/s  {row['gflops']:>6.1f} GFLOP/s",
            flush=True,
        )
    del calls

    check = job.get("check")
    for variant in (check or {}).get("variants", []):
        digests = []
        for _ in range(2):
            model = trainer(check["px"], variant)
            x, y = batch_of(check["px"], check["batch"], seed=1)
            for _ in range(check["steps"]):
                model.train_on_batch(x, y)
            digest = hashlib.sha256()
            for weight in model.weights:
                digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
            digests.append(digest.hexdigest()[:16])
        result["variants"][variant]["determinism_check"] = {
            "px": check["px"], "batch": check["batch"], "steps": check["steps"],
            "weights_sha256": digests, "identical": digests[0] == digests[1],
        }  # fmt: skip
    return result


# ----------------------------------------------------------------- PyTorch worker


def torch_worker(job: dict) -> dict:
    """The same VGG16 convolutions by hand in PyTorch (no torchvision), float32, Adam."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    result = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "peak": [],
        "measurements": [],
    }
    for n in job["peak"]:
        a, b = torch.randn(n, n), torch.randn(n, n)
        times = best_time(lambda a=a, b=b: torch.mm(a, b).sum().item(), 2, job["repeats"])
        gflops = round(2 * n**3 / min(times) / 1e9, 1)
        result["peak"].append({"kernel": f"torch.mm {n}x{n} float32", "gflops": gflops})

    def vgg16(px):
        layers, channels = [], 3
        for item in VGG16_LAYERS:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU(inplace=True)]
                channels = item
        head = nn.Linear(512 * (px // 32) ** 2, 10)
        return nn.Sequential(nn.Sequential(*layers), nn.Flatten(), head)

    def forward(model, x):
        with torch.inference_mode():
            model[0](x).sum().item()

    def train(model, x, y, optimizer):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        loss.item()

    calls = []
    for spec in job["measure"]:
        channels_last = spec["variant"] == "channels_last"
        layout = torch.channels_last if channels_last else torch.contiguous_format
        model = vgg16(spec["px"]).to(memory_format=layout)
        x = (torch.rand(spec["batch"], 3, spec["px"], spec["px"]) * 255).to(memory_format=layout)
        y = torch.randint(0, 10, (spec["batch"],))
        if spec["work"] == "forward":
            model.eval()
            calls.append(lambda model=model, x=x: forward(model, x))
        else:
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
            calls.append(lambda m=model, x=x, y=y, o=optimizer: train(m, x, y, o))
    for spec, times in zip(job["measure"], time_interleaved(calls, job["measure"]), strict=True):
        row = rate_row(spec, times)
        result["measurements"].append(row)
        print(
            f"  torch {spec['work']:<8}{spec['px']:>4} px  batch {spec['batch']:>4} "
            f"{spec['variant'] or 'NCHW':<15}{row['img_per_s']:>8.1f} img/s",
            flush=True,
        )
    return result


# ----------------------------------------------------------------- the parent


def run_job(python: str, kind: str, job: dict, env: dict, timeout: int) -> dict:
    """Run one job in a fresh subprocess; its result, or {"error": ...}."""
    with tempfile.TemporaryDirectory() as tmp:
        spec, out = Path(tmp) / "job.json", Path(tmp) / "result.json"
        spec.write_text(json.dumps(job))
        start = time.perf_counter()
        try:
            proc = subprocess.run(
                [python, str(Path(__file__).resolve()), kind, str(spec), str(out)],
                env=env,
                timeout=timeout,
                stderr=subprocess.PIPE,
                text=True,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout} s"}
        seconds = round(time.perf_counter() - start, 1)
        if proc.returncode != 0 or not out.exists():
            tail = proc.stderr.strip().splitlines()[-8:]
            print("\n".join(tail), file=sys.stderr)
            last = tail[-1] if tail else "no message"
            return {
                "error": f"exit status {proc.returncode}: {last}",
                "seconds": seconds,
            }
        return json.loads(out.read_text()) | {"seconds": seconds, "load_average_after": _load()}


def merge_rounds(rounds: list[dict]) -> dict:
    """One setting from its rounds (fresh processes with the same settings): every repeat of
    a measurement or peak kernel counts, the best is the best of all rounds."""
    errors = [r["error"] for r in rounds if "error" in r]
    if errors:
        return rounds[0] | {"error": errors[0], "rounds": len(rounds)}
    merged = dict(rounds[0])
    merged |= {"rounds": len(rounds), "seconds": round(sum(r["seconds"] for r in rounds), 1)}
    merged["load_average_after"] = rounds[-1]["load_average_after"]
    rows: dict[tuple, dict] = {}
    for row in (row for r in rounds for row in r["measurements"]):
        key = (row["work"], row["px"], row["batch"], row["variant"])
        if key in rows:
            rates = rows[key]["img_per_s_all"] + row["img_per_s_all"]
            rows[key] |= rates_row(row, rates) | {"repeats": len(rates)}
        else:
            rows[key] = row
    merged["measurements"] = list(rows.values())
    peaks: dict[str, dict] = {}
    for peak in (p for r in rounds for p in r["peak"]):
        if peak["kernel"] in peaks:
            values = peaks[peak["kernel"]]["gflops_all"] + peak["gflops_all"]
            peaks[peak["kernel"]] |= {"gflops": max(values), "gflops_all": values}
        else:
            peaks[peak["kernel"]] = peak
    merged["peak"] = list(peaks.values())
    merged["failed"] = [f for r in rounds for f in r.get("failed", [])]
    merged["variants"] = {}
    for r in rounds:
        for variant, facts in r["variants"].items():
            merged["variants"].setdefault(variant, {}).update(facts)
    return merged


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def torch_version(python: str) -> str | None:
    try:
        proc = subprocess.run(
            [python, "-c", "import torch; print(torch.__version__)"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def numpy_peak(quick: bool) -> dict | None:
    """numpy's own BLAS (OpenBLAS in the wheel) on a large float32 matmul."""
    try:
        import numpy as np
    except ImportError:
        return None
    n = 128 if quick else 4096
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    times = best_time(lambda: a @ a, 2, 2 if quick else 5)
    return {
        "kernel": f"numpy matmul {n}x{n} float32",
        "gflops": round(2 * n**3 / min(times) / 1e9, 1),
    }


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; a result is for everyone
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def summarise(settings: list[dict], torch_result: dict | None, other_peaks: list[dict]) -> dict:
    """The measured peak and the main table (oneDNN off vs on, PyTorch beside).

    The measured peak is the best float32 rate of any kernel on all cores, whichever
    library or setting ran it: it is the machine's, not TensorFlow's. The 1-thread
    kernels are left out of it, and the best with oneDNN on is kept beside it."""
    peaks = [dict(p, setting=s["name"]) for s in settings for p in s.get("peak", [])]
    on = [p for p in peaks if p["setting"] == "oneDNN on"]
    all_cores = [p for p in peaks + other_peaks if "1 thread" not in p["setting"]]
    measured = max(all_cores, key=lambda p: p["gflops"]) if all_cores else None
    one_thread = [p for p in peaks if "1 thread" in p["setting"]]
    by_name = {s["name"]: s for s in settings}

    def find(name, work, px, batch):
        for row in by_name.get(name, {}).get("measurements", []):
            if (row["work"], row["px"], row["batch"], row["variant"]) == (work, px, batch, ""):
                return row
        return None

    def best_torch(work, px):
        rows = [
            r
            for r in (torch_result or {}).get("measurements", [])
            if (r["work"], r["px"]) == (work, px)
        ]
        return max(rows, key=lambda r: r["img_per_s"]) if rows else None

    table = []
    grid = by_name.get("oneDNN off", {}).get("measurements", [])
    for row in grid:
        work, px, batch = row["work"], row["px"], row["batch"]
        on_row = find("oneDNN on", work, px, batch)
        torch_row = best_torch(work, px)
        entry = {
            "work": work,
            "px": px,
            "batch": batch,
            "gflop_per_image": row["gflop_per_image"],
            "img_per_s_onednn_off": row["img_per_s"],
            "img_per_s_onednn_on": on_row["img_per_s"] if on_row else None,
            "gflops_onednn_on": on_row["gflops"] if on_row else None,
            "percent_of_measured_peak": round(100 * on_row["gflops"] / measured["gflops"], 1)
            if on_row and measured
            else None,
            "img_per_s_pytorch": torch_row["img_per_s"] if torch_row else None,
            "pytorch_batch": torch_row["batch"] if torch_row else None,
            "pytorch_layout": (torch_row["variant"] or "NCHW") if torch_row else None,
        }
        table.append(entry)
    return {
        "measured_peak": measured,
        "measured_peak_onednn_on": max(on, key=lambda p: p["gflops"]) if on else None,
        "measured_peak_one_thread": max(one_thread, key=lambda p: p["gflops"])
        if one_thread
        else None,
        "table": table,
    }


def _fmt(value, digits=1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _rate(row: dict | None) -> str:
    """ "best (median)" images/second of a measurement, or empty."""
    if not row:
        return ""
    return f"{row['img_per_s']:.1f} ({row['img_per_s_median']:.1f})"


def markdown(report: dict) -> str:
    """The readable report: peak lines, the off/on table, other settings, repeatability."""
    machine, theory, peak = report["machine"], report["theoretical_peak"], report["measured_peak"]
    cpu = machine["cpu"]
    by_name = {s["name"]: s for s in report["settings"]}
    lines = [
        f"Measured on {machine['date']}: {cpu['model']} ({cpu['vendor']}, family "
        f"{cpu['family']:#x} model {cpu['model_number']:#x}), {cpu['cores']} CPUs at "
        f"{cpu['mhz']:.0f} MHz, {cpu['memory_gib']} GiB; SIMD: {', '.join(cpu['simd_flags'])}. "
        f"Python {machine['python']}, TensorFlow {machine.get('tensorflow')}, "
        f"Keras {machine.get('keras')}, PyTorch {machine.get('torch') or 'not installed'}.",
        "",
        f"Command: `{report['command']}` ({report['seconds']:.0f} s). Load average (1, 5, 15 "
        f"min) before: {', '.join(map(str, report['load_average_before']))}; after: "
        f"{', '.join(map(str, report['load_average_after']))} (the run's own processes "
        f"included). Other processes used {report['other_processes_cpu_percent']} % of the "
        f"machine's CPU time during the run; hypervisor steal {report['steal_percent']} %.",
        "",
        "## Peak float32 rate",
        "",
        f"- Theoretical: **{theory['gflops']} GFLOP/s** = {theory['formula']}. Assumptions: "
        + "; ".join(theory["assumptions"])
        + ".",
    ]
    if peak:
        lines.append(
            f"- Measured: **{peak['gflops']} GFLOP/s** ({peak['kernel']}, {peak['setting']}): "
            "the best of the kernels below on all cores, whichever library ran it, best "
            f"repeat after warm-up; {100 * peak['gflops'] / theory['gflops']:.0f} % of the "
            "theoretical peak. The percentages of peak below are of this number."
        )
    if peak and peak["gflops"] > theory["gflops"]:
        ghz = peak["gflops"] / (theory["flop_per_cycle_per_core"] * (cpu["cores"] or 1))
        lines.append(
            f"- The measured rate is above the theoretical one at the clock /proc/cpuinfo "
            f"gives: the cores ran at {ghz:.2f} GHz or more (turbo, which a virtual machine "
            "does not show), if the FMA assumptions hold."
        )
    on_peak, one = report.get("measured_peak_onednn_on"), report.get("measured_peak_one_thread")
    if on_peak:
        lines.append(
            f"- Best with TensorFlow, oneDNN on: {on_peak['gflops']} GFLOP/s ({on_peak['kernel']})."
        )
    if one:
        per_core = theory["gflops"] / (cpu["cores"] or 1)
        lines.append(
            f"- One thread: {one['gflops']} GFLOP/s ({one['kernel']}), "
            f"{100 * one['gflops'] / per_core:.0f} % of one core's theoretical "
            f"{per_core:.1f} GFLOP/s: the {cpu['cores']} CPUs are "
            + ("separate cores." if peak and peak["gflops"] > 1.3 * one["gflops"] else "shared?")
        )
    if theory.get("amx_note"):
        lines.append(f"- Note: {theory['amx_note']}.")
    lines += ["", "| kernel | setting | GFLOP/s |", "| --- | --- | ---: |"]
    for s in report["settings"]:
        for p in s.get("peak", []):
            lines.append(f"| {p['kernel']} | {s['name']} | {p['gflops']} |")
    for p in report.get("other_peaks", []):
        lines.append(f"| {p['kernel']} | {p['setting']} | {p['gflops']} |")
    lines += [
        "",
        "## VGG16 (random weights), float32, op determinism on, no XLA",
        "",
        "Forward: the 13 convolutions (`include_top=False`). Training: all layers plus a "
        "Flatten + Dense(10) head, Adam, one `train_on_batch` per step. FLOPs counted from "
        "the convolution shapes, 2 per multiply-add; training = 3 x forward. Images/second: "
        "best repeat (median of the repeats).",
        "",
        "| work | px | batch | GFLOP/image | img/s oneDNN off | img/s oneDNN on | on/off "
        "| GFLOP/s (on) | % of measured peak (on) | PyTorch img/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in report["table"]:
        off, on = r["img_per_s_onednn_off"], r["img_per_s_onednn_on"]
        speedup = f"{on / off:.2f}x" if off and on else ""
        torch_cell = _fmt(r["img_per_s_pytorch"])
        if torch_cell:
            torch_cell += f" (batch {r['pytorch_batch']}, {r['pytorch_layout']})"
        key = (r["work"], r["px"], r["batch"])
        off_row, on_row = (_find(by_name, name, key) for name in ("oneDNN off", "oneDNN on"))
        lines.append(
            f"| {r['work']} | {r['px']} | {r['batch']} | {r['gflop_per_image']:.2f} | "
            f"{_rate(off_row)} | {_rate(on_row)} | {speedup} | {_fmt(r['gflops_onednn_on'])} "
            f"| {_fmt(r['percent_of_measured_peak'])} | {torch_cell} |"
        )
    lines += [
        "",
        "## Other settings",
        "",
        "oneDNN on unless named. Rows of one setting ran in one process (two for oneDNN off "
        "and on), timed in turns: XLA (`jit_compile=True`) and mixed_bfloat16 are timed beside "
        "float32 rows of the same process, which are the fair comparison for them.",
        "",
        "| setting | work | px | batch | img/s | GFLOP/s | % of measured peak |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    main_grid = {(r["work"], r["px"], r["batch"]) for r in report["table"]}
    with_variants = {
        s["name"] for s in report["settings"] if any(r["variant"] for r in s["measurements"])
    }
    rows = [
        (
            f"{s['name']}, {r['variant'] or 'float32'}"
            if s["name"] in with_variants
            else s["name"],
            r,
            r["variant"],
        )
        for s in report["settings"]
        for r in s.get("measurements", [])
        if not (
            s["name"] in ("oneDNN off", "oneDNN on")
            and (r["work"], r["px"], r["batch"]) in main_grid
        )
    ]
    torch_rows = (report.get("torch_result") or {}).get("measurements", [])
    rows += [
        (f"PyTorch {machine.get('torch')}, {r['variant'] or 'NCHW'}", r, "") for r in torch_rows
    ]
    for name, r, precision in rows:
        share = _fmt(100 * r["gflops"] / peak["gflops"]) if peak else ""
        if precision == "mixed_bfloat16" and share:
            share += " (of the float32 peak)"
        lines.append(
            f"| {name} | {r['work']} | {r['px']} | {r['batch']} | {_rate(r)} | "
            f"{r['gflops']:.1f} | {share} |"
        )
    failures = [(s["name"], f) for s in report["settings"] for f in s.get("failed", [])]
    if failures:
        lines += ["", "Failed (a result too):", ""]
        lines += [
            f"- {name}, {f['work']} {f['px']} px {f['variant'] or 'float32'}: {f['error']}"
            for name, f in failures
        ]
    lines += [
        "",
        "## Repeatability and threads",
        "",
        "| setting | oneDNN (TensorFlow says) | threads intra/inter | compute dtype "
        "| XLA in training | two seeded training runs identical | weights sha256 (first 16) "
        "| seconds (processes) |",
        "| --- | --- | --- | --- | --- | --- | --- | ---: |",
    ]
    for s in report["settings"]:
        if "error" in s:
            error = s["error"][:200].replace("|", "/")
            lines.append(f"| {s['name']} | failed: {error} | | | | | | |")
            continue
        for variant, facts in s["variants"].items() or [("", {})]:
            check = facts.get("determinism_check")
            same = ("yes" if check["identical"] else "**no**") if check else "not checked"
            digest = check["weights_sha256"][0] if check else ""
            lines.append(
                f"| {', '.join(filter(None, [s['name'], variant]))} | {s['onednn_reported']} | "
                f"{s['intra_op_threads']}/{s['inter_op_threads']} | "
                f"{facts.get('compute_dtype', '')} | {facts.get('xla_training', '')} | {same} | "
                f"{digest} | {s['seconds']} ({s['rounds']}) |"
            )
    steps_timed = [
        f"{r['work']} {r['px']} px batch {r['batch']}: {r['warmup']} + {r['repeats']} x "
        f"{r['steps']}"
        for r in by_name.get("oneDNN on", {}).get("measurements", [])
    ]
    checks = [
        facts["determinism_check"]
        for s in report["settings"]
        for facts in s.get("variants", {}).values()
        if "determinism_check" in facts
    ]
    first = checks[0] if checks else None
    lines += [
        "",
        "Threads 0/0 = TensorFlow's choice (all cores). Each rate is the best of its repeats "
        "after warm-up calls (the JSON keeps every repeat). Steps timed with oneDNN on "
        "(warm-up + repeats x steps per repeat): " + "; ".join(steps_timed) + ". Where a step "
        "is slow the repeats are few, so those rates are rougher.",
        "",
        f"The determinism check trains the {first['px']} px model twice from the same seed "
        f"(batch {first['batch']}, {first['steps']} Adam step(s)) in the same process and "
        "compares the bytes of every weight; the same digest in two rows means the same "
        "weights in those two processes."
        if first
        else "No determinism check ran.",
        "",
        report["torch_line"],
    ]
    return "\n".join(lines) + "\n"


def _find(by_name: dict, name: str, key: tuple) -> dict | None:
    for row in by_name.get(name, {}).get("measurements", []):
        if (row["work"], row["px"], row["batch"]) == key:
            return row
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes, to check that it runs (seconds, not measurements)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for throughput.json/.md (default: benchmarks/; with "
        "--quick, a new temporary folder)",
    )
    parser.add_argument(
        "--torch-python",
        default=sys.executable,
        help="a Python interpreter with torch, for the PyTorch column (default: this one)",
    )
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per subprocess")
    args = parser.parse_args(argv)
    out = args.out or (Path(tempfile.mkdtemp(prefix="throughput-")) if args.quick else OUT_DIR)

    started = time.perf_counter()
    load_before = _load()
    busy_before, steal_before = cpu_busy_seconds()
    own_before = own_cpu_seconds()
    cpu = cpu_description()
    theory = theoretical_peak(cpu)
    print(
        f"{cpu['model']}, {cpu['cores']} CPUs at {cpu['mhz']:.0f} MHz; load average "
        f"{load_before}; theoretical float32 peak {theory['gflops']} GFLOP/s "
        f"({theory['formula']})",
        flush=True,
    )

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    runs: dict[str, list[dict]] = {}  # the rounds of each setting, in order
    for job in plan(args.quick):
        job_env = dict(env)
        if job["onednn"] == "off":
            job_env["TF_ENABLE_ONEDNN_OPTS"] = "0"
        else:
            job_env.pop("TF_ENABLE_ONEDNN_OPTS", None)  # TensorFlow's default, as in the book
        print(f"{job['name']}:", flush=True)
        result = run_job(sys.executable, "--tf-worker", job, job_env, args.timeout)
        runs.setdefault(job["name"], []).append(
            {"name": job["name"], "onednn": job["onednn"]} | result
        )
    settings = [merge_rounds(rounds) for rounds in runs.values()]

    torch_result, torch_ver = None, None
    if args.no_torch:
        torch_line = "PyTorch left out (--no-torch)."
    else:
        torch_ver = torch_version(args.torch_python)
        if torch_ver is None:
            torch_line = NO_TORCH + "."
        else:
            print(f"PyTorch {torch_ver} ({args.torch_python}):", flush=True)
            torch_result = run_job(
                args.torch_python,
                "--torch-worker",
                torch_plan(args.quick),
                dict(os.environ),
                args.timeout,
            )
            torch_line = (
                f"PyTorch {torch_ver} from `{args.torch_python}` ran in its own "
                "process, same machine, same run (float32, Adam, deterministic algorithms); "
                "in the main table its training rate is the better of NCHW and channels_last, "
                "its forward rate is channels_last."
            )
            if "error" in torch_result:
                torch_line = f"PyTorch {torch_ver} failed: {torch_result['error'][:300]}"
    print(torch_line, flush=True)

    other_peaks = []
    numpy_row = numpy_peak(args.quick)
    if numpy_row:
        other_peaks.append(numpy_row | {"setting": "numpy (its own BLAS)"})
    for p in (torch_result or {}).get("peak", []):
        other_peaks.append(p | {"setting": f"PyTorch {torch_ver}"})

    busy_after, steal_after = cpu_busy_seconds()
    seconds = time.perf_counter() - started
    available = seconds * (cpu["cores"] or 1)
    others = max(0.0, (busy_after - busy_before) - (own_cpu_seconds() - own_before))
    first_tf = next((s for s in settings if "tensorflow" in s), {})
    machine = {
        "date": datetime.now().isoformat(timespec="seconds"),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "tensorflow": first_tf.get("tensorflow"),
        "keras": first_tf.get("keras"),
        "torch": torch_ver,
        "numpy": _version("numpy"),
    }
    command = "python benchmarks/throughput.py " + " ".join(sys.argv[1:] if argv is None else argv)
    report = {
        "machine": machine,
        "command": command.strip(),
        "quick": args.quick,
        "seconds": round(seconds, 1),
        "load_average_before": load_before,
        "load_average_after": _load(),
        "other_processes_cpu_percent": round(100 * others / available, 1),
        "steal_percent": round(100 * (steal_after - steal_before) / available, 1),
        "theoretical_peak": theory,
        **summarise(settings, torch_result, other_peaks),
        "settings": settings,
        "other_peaks": other_peaks,
        "torch_result": torch_result,
        "torch_line": torch_line,
    }
    atomic_write(out / "throughput.json", json.dumps(report, indent=2) + "\n")
    atomic_write(out / "throughput.md", markdown(report))
    print(f"wrote {out / 'throughput.json'} and {out / 'throughput.md'} in {seconds:.0f} s")
    return 0


def _version(package: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _worker_main(kind: str, spec: str, out: str) -> int:
    job = json.loads(Path(spec).read_text())
    result = tf_worker(job) if kind == "--tf-worker" else torch_worker(job)
    Path(out).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] in ("--tf-worker", "--torch-worker"):
        sys.exit(_worker_main(*sys.argv[1:]))
    sys.exit(main())
