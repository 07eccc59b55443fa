"""Data-parallel training (chapter 11, utils/chapters/distributed.py) learns what one device learns.

The chapter's two set-ups, on a small model and random data so that they stay quick:

- ``MirroredStrategy`` on two logical CPU devices, with ``model.fit`` and with the
  training loop. Splitting the CPU must happen before TensorFlow creates its devices,
  which this pytest process did long ago, so that test runs in a fresh Python process.
- ``MultiWorkerMirroredStrategy`` with two worker processes on 127.0.0.1
  (``distributed.run_workers``), compared with ``model.fit`` on one device.

Agreement means what the chapter checks: no weight differs from the single-device run
by 1 % of the largest change training made, and the workers' weights are identical.
Every process started here has a time limit and is killed if it is still running
when its test ends (``start_new_session`` gives each its own process group). A last
test checks that ``model.fit`` still fails under ``MultiWorkerMirroredStrategy``
with the pinned Keras, as the chapter says; when it passes upstream, that test says
to update the chapter.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import keras
import numpy as np
import psutil
import pytest

from utils import training
from utils.chapters import distributed

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 180  # seconds for any process started here; a normal run takes about 10
BATCH, RATE, EPOCHS, MOMENTUM = 64, 0.05, 2, 0.9
RELATIVE_TOLERANCE = 0.01  # of the largest change training made to any weight

# A small convolutional model on random data, and the set-up every test shares.
COMMON = """
import numpy as np, keras, tensorflow as tf

def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8, 8, 16)).astype("float32")
    return x, rng.integers(0, 10, size=256)

def initial_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((8, 8, 16)),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])

def largest_difference(a, b):
    return max(float(np.abs(u - v).max()) for u, v in zip(a, b, strict=True))
"""
namespace = {}
exec(COMMON, namespace)
data, initial_model, largest_difference = (
    namespace[name] for name in ("data", "initial_model", "largest_difference")
)

MIRRORED = f"""
import json
import utils  # quiet TensorFlow, Keras on its TensorFlow backend
{COMMON}
from utils import training
from utils.chapters import distributed

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
training.seed_everything(0)
x, y = data()
initial = initial_model()

def trained(strategy, loop):
    with strategy.scope():
        model = keras.models.clone_model(initial)
        model.set_weights(initial.get_weights())
        optimizer = keras.optimizers.SGD({RATE}, momentum={MOMENTUM})
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    dataset = distributed.batches(x, y, {BATCH})
    if loop:
        distributed.train_in_steps(strategy, model, dataset, {BATCH}, {RATE}, {EPOCHS}, {MOMENTUM})
    else:
        model.fit(dataset, epochs={EPOCHS}, verbose=0, shuffle=False)
    return model

one = trained(tf.distribute.get_strategy(), loop=False)
mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
fitted, looped = trained(mirrored, loop=False), trained(mirrored, loop=True)
copies = [c.numpy() for c in mirrored.experimental_local_results(fitted.layers[0].kernel.value)]
print(json.dumps({{
    "replicas": mirrored.num_replicas_in_sync,
    "moved": largest_difference(one.get_weights(), initial.get_weights()),
    "fit": largest_difference(fitted.get_weights(), one.get_weights()),
    "loop": largest_difference(looped.get_weights(), one.get_weights()),
    "copies": max(largest_difference([c], [copies[0]]) for c in copies),
}}))
"""

FIT_UNDER_MULTI_WORKER = """
import utils  # quiet TensorFlow, Keras on its TensorFlow backend
import keras, numpy as np, tensorflow as tf

strategy = tf.distribute.MultiWorkerMirroredStrategy()
with strategy.scope():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
model.fit(np.zeros((64, 4), "float32"), np.zeros(64, "int64"), batch_size=16, verbose=0)
print("model.fit worked")
"""


def _kill(processes):
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _leftover_workers():
    """Processes started by this test process that still run utils.chapters.distributed."""
    children = psutil.Process().children(recursive=True)
    return [p for p in children if "utils.chapters.distributed" in " ".join(p.cmdline())]


def test_mirrored_strategy_on_two_logical_cpus_matches_one_device():
    process = subprocess.Popen(
        [sys.executable, "-c", MIRRORED],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    finally:
        _kill([process])
    assert process.returncode == 0, err[-3000:]
    result = json.loads(out.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert result["moved"] > 0, "training did not move the weights"
    for way in ("fit", "loop"):
        assert result[way] < RELATIVE_TOLERANCE * result["moved"], (way, result)
    assert result["copies"] == 0.0, "the replicas' copies of a weight differ"


def test_two_workers_match_one_device_and_each_other(tmp_path):
    x, y = data()
    initial = initial_model()
    initial.save(tmp_path / "model.keras")
    np.savez(tmp_path / "data.npz", x=x, y=y)
    settings = {"global_batch_size": BATCH, "learning_rate": RATE, "epochs": EPOCHS}
    settings.update(momentum=MOMENTUM, seed=0, threads=1)
    (tmp_path / "settings.json").write_text(json.dumps(settings))

    histories = distributed.run_workers(tmp_path, 2, timeout=TIMEOUT)
    workers = []
    for index in range(2):
        with np.load(tmp_path / f"weights-{index}.npz") as saved:
            workers.append([saved[f"arr_{i}"] for i in range(len(saved.files))])

    training.seed_everything(0)
    one = keras.models.clone_model(initial)
    one.set_weights(initial.get_weights())
    one.compile(
        optimizer=keras.optimizers.SGD(RATE, momentum=MOMENTUM),
        loss="sparse_categorical_crossentropy",
    )
    one.fit(distributed.batches(x, y, BATCH), epochs=EPOCHS, verbose=0, shuffle=False)
    moved = largest_difference(one.get_weights(), initial.get_weights())

    assert [h["replicas"] for h in histories] == [2, 2]
    assert histories[0]["loss"] == histories[1]["loss"]
    assert largest_difference(workers[0], workers[1]) == 0.0, "the workers' weights differ"
    assert moved > 0, "training did not move the weights"
    assert largest_difference(workers[0], one.get_weights()) < RELATIVE_TOLERANCE * moved
    assert not _leftover_workers()


def test_run_workers_stops_workers_that_take_too_long(tmp_path):
    with pytest.raises(RuntimeError, match="worker 0 timed out"):
        distributed.run_workers(tmp_path, 2, timeout=0.5)  # still importing TensorFlow
    assert not _leftover_workers()


def test_run_workers_reports_the_log_of_a_failed_worker(tmp_path):
    # no settings.json: each worker fails as soon as it has imported TensorFlow
    with pytest.raises(RuntimeError, match=r"(?s)worker \d failed.*settings\.json"):
        distributed.run_workers(tmp_path, 2, timeout=TIMEOUT)
    assert not _leftover_workers()


def test_tf_config_names_the_loopback_address_only():
    ports = distributed.free_ports(2)
    assert len(set(ports)) == 2
    config = json.loads(distributed.tf_config(ports, 1))
    assert config == {
        "cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
        "task": {"type": "worker", "index": 1},
    }


def test_model_fit_still_fails_under_multi_worker_mirrored_strategy(tmp_path):
    """Chapter 11 says model.fit fails here with Keras 3 (keras-team/keras#20585)."""
    script = tmp_path / "fit_worker.py"
    script.write_text(textwrap.dedent(FIT_UNDER_MULTI_WORKER))
    ports = distributed.free_ports(2)
    processes, logs = [], [tmp_path / f"log-{i}.txt" for i in range(2)]
    try:
        for index, log in enumerate(logs):
            env = {**os.environ, "TF_CONFIG": distributed.tf_config(ports, index)}
            with open(log, "w") as out:
                processes.append(
                    subprocess.Popen(
                        [sys.executable, str(script)],
                        cwd=ROOT,
                        env=env,
                        stdout=out,
                        stderr=out,
                        start_new_session=True,
                    )
                )
        deadline = time.monotonic() + TIMEOUT
        while any(p.poll() is None for p in processes) and time.monotonic() < deadline:
            if any(p.poll() for p in processes):
                break  # one failed: the other may wait for it for ever
            time.sleep(0.1)
    finally:
        _kill(processes)
    output = "\n".join(log.read_text() for log in logs)
    assert "model.fit worked" not in output, (
        "model.fit now works under MultiWorkerMirroredStrategy with the pinned versions: "
        "update chapter 11 ('Why not model.fit?') and this test"
    )
    assert "unsupported type" in output, output[-3000:]
