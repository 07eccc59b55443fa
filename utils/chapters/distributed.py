"""Data-parallel training with tf.distribute; chapter 11 writes out every function here.

A worker of MultiWorkerMirroredStrategy runs ``python -m utils.chapters.distributed FOLDER``.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from utils import training


def batches(x, y, global_batch_size):
    """Batches of the global batch size, in order (chapter 11).

    A last, smaller batch is dropped: every step averages over as many images.
    """
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(global_batch_size, drop_remainder=True)


def train_in_steps(
    strategy, model, dataset, global_batch_size, learning_rate, epochs, momentum=0.9
):
    """Train ``model`` (made in ``strategy.scope()``) with SGD, step by step.

    Each replica divides the loss of its share of a global batch by the
    *global* batch size; the optimiser sums the replicas' gradients, so every
    replica applies the same update to its copy of the weights. Returns the
    mean loss and the seconds of each epoch. Introduced in chapter 11.
    """
    with strategy.scope():  # the optimiser's state is replicated too
        optimizer = keras.optimizers.SGD(learning_rate, momentum=momentum)
        optimizer.build(model.trainable_variables)
    loss_per_image = keras.losses.SparseCategoricalCrossentropy(reduction=None)
    distributed = strategy.experimental_distribute_dataset(dataset)

    def replica_step(x, y):  # runs on each replica, with its share
        with tf.GradientTape() as tape:
            probabilities = model(x, training=True)
            per_image = loss_per_image(y, probabilities)
            loss = tf.nn.compute_average_loss(per_image, global_batch_size=global_batch_size)
        gradients = tape.gradient(loss, model.trainable_variables)
        # the optimiser sums the replicas' gradients, then updates
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return loss

    @tf.function
    def step(x, y):
        per_replica = strategy.run(replica_step, args=(x, y))
        return strategy.reduce("SUM", per_replica, axis=None)

    history = {"loss": [], "seconds": []}
    for _ in range(epochs):
        start, total, steps = time.perf_counter(), 0.0, 0
        for x, y in distributed:
            total += float(step(x, y))
            steps += 1
        history["loss"].append(total / steps)
        history["seconds"].append(time.perf_counter() - start)
    return history


def worker(folder):
    """What each worker process runs: train, save weights and history.

    ``folder`` holds ``model.keras``, ``data.npz`` and ``settings.json``;
    ``TF_CONFIG`` says which worker this is. Introduced in chapter 11.
    """
    folder = Path(folder)
    settings = json.loads((folder / "settings.json").read_text())
    tf.config.threading.set_intra_op_parallelism_threads(settings.pop("threads"))
    strategy = tf.distribute.MultiWorkerMirroredStrategy()  # reads TF_CONFIG
    training.seed_everything(settings.pop("seed"))
    with strategy.scope():
        model = keras.models.load_model(folder / "model.keras")
    arrays = np.load(folder / "data.npz")
    dataset = batches(arrays["x"], arrays["y"], settings["global_batch_size"])
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    history = train_in_steps(strategy, model, dataset.with_options(options), **settings)
    history["replicas"] = strategy.num_replicas_in_sync
    index = strategy.cluster_resolver.task_id
    np.savez(folder / f"weights-{index}.npz", *model.get_weights())
    (folder / f"history-{index}.json").write_text(json.dumps(history))


def free_ports(n):
    """``n`` TCP ports of 127.0.0.1 that nothing listens on, for now."""
    with contextlib.ExitStack() as stack:  # closes the sockets at the end
        sockets = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))  # port 0: the system picks a free one
        return [s.getsockname()[1] for s in sockets]


def tf_config(ports, index):
    """``TF_CONFIG`` of worker ``index`` of the workers on ``ports``."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    return json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})


def run_workers(folder, n_workers, timeout):
    """Run :func:`worker` in ``n_workers`` processes; return their histories.

    If one fails, or they are not done after ``timeout`` seconds, all still
    running are stopped and the error shows the failed worker's log.
    """
    folder, ports = Path(folder), free_ports(n_workers)
    cmd = [sys.executable, "-m", "utils.chapters.distributed", str(folder)]
    workers, deadline = [], time.monotonic() + timeout
    try:
        for index in range(n_workers):
            env = {**os.environ, "TF_CONFIG": tf_config(ports, index)}
            with open(folder / f"log-{index}.txt", "w") as out:
                # a process group of its own, so that killpg stops it all
                process = subprocess.Popen(
                    cmd, env=env, stdout=out, stderr=out, start_new_session=True
                )
            workers.append(process)
        while any(w.poll() is None for w in workers):
            if any(w.poll() for w in workers) or time.monotonic() > deadline:
                break  # one failed (the others would wait for it), or late
            time.sleep(0.1)
        codes = [w.poll() for w in workers]  # None: still running
        late = [i for i, code in enumerate(codes) if code is None]
        failed = [i for i, code in enumerate(codes) if code] + late
        if failed:
            why = "timed out" if codes[failed[0]] is None else "failed"
            log = (folder / f"log-{failed[0]}.txt").read_text()[-3000:]
            raise RuntimeError(f"worker {failed[0]} {why}; its log:\n{log}")
    finally:
        for w in workers:
            if w.poll() is None:  # still running: stop it and its children
                os.killpg(w.pid, signal.SIGKILL)
                w.wait()
    return [json.loads((folder / f"history-{i}.json").read_text()) for i in range(n_workers)]


if __name__ == "__main__":
    worker(sys.argv[1])
