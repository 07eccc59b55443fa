"""How chapter 05's stage 2 depends on its learning rate and epochs, over seeds.

A study, not a test: it chose chapter 05's FINE_TUNE_LR and FINE_TUNE_EPOCHS.

    .venv/bin/python benchmarks/stage2_study.py run 300 0,1,2,3,4,5,6,7 1e-5,3e-5 3
    .venv/bin/python benchmarks/stage2_study.py summary _build/stage2_300.json

``run`` repeats chapter 05's ``three_ways`` per seed and learning rate, the
small CNN left out: stage 1 as in the chapter, then stage 2 from that head
and ImageNet's block3 for a number of epochs without early stopping,
recording the validation accuracy and the test correctness after every epoch
(about 45 s per seed and rate at 300 per class on 2 cores). With the chapter's
rate and seed it gives the chapter's numbers (seed 0 at 1e-5: feature
extraction 0.883, fine-tuning 0.891 after two epochs).
``summary`` replays chapter 05's selection on those records (early stopping
with patience 2 and the best epoch restored, then the epoch-0 rule) for 1 to
3 epochs, and prints per seed the fine-tuning minus feature-extraction test
accuracy, and in how many three-seed subsets the paired 95 % bootstrap
interval lies above zero.
"""

import itertools
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def run(per_class, seeds, rates, epochs, out, image_size=32):
    """Chapter 05's ``three_ways`` for each seed and rate, without the scratch CNN.

    Stage 1 as in the chapter (``feature_rows.Batches`` of 128, shuffled with the
    seed, early stopping with patience 3); stage 2 as in the chapter (block3 from
    ImageNet, batches of 64, shuffled with the seed) but for ``epochs`` epochs
    without early stopping, recording after every epoch. Stage 1 is trained
    again for every rate, so that each rate's stage 2 starts from the random
    state the chapter's would.
    """
    import keras

    from utils import data, feature_rows, features, finetune, models, training, weights

    vgg = weights.load_vgg16("imagenet", input_shape=(image_size, image_size, 3))
    bottom = keras.Model(vgg.input, vgg.get_layer("block2_pool").output)
    kept = keras.Model(vgg.input, vgg.get_layer("block3_pool").output)
    (x_all, y_all), (x_test, y_test) = data.load_fashion_mnist()
    z_all, z_test = (features.extract_features(bottom, x, image_size) for x in (x_all, x_test))
    f_all, f_test = (features.extract_features(kept, x, image_size) for x in (x_all, x_test))
    records = json.loads(out.read_text()) if out.exists() else []
    done = {(r["seed"], r["rate"]) for r in records}

    class Record(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.val_accuracy, self.test_correct = [], []

        def on_epoch_end(self, epoch, logs=None):
            self.val_accuracy.append(float(logs["val_accuracy"]))
            self.test_correct.append(training.correct(self.model, z_test, y_test).tolist())

    for seed in seeds:
        split = data.book_split_indices(per_class, 100, seed=seed)
        train, val = split["train"], split["val"]
        for rate in rates:
            if (seed, rate) in done:
                continue
            training.seed_everything(seed)
            head = training.compiled(models.standardized_head(f_all, train), 1e-3)
            head.fit(
                feature_rows.Batches(f_all, y_all, train, 128, shuffle=True, seed=seed),
                epochs=20,
                verbose=0,
                shuffle=False,
                callbacks=[training.early_stopping(3, "val_accuracy")],
                validation_data=(f_all[val], y_all[val]),
            )
            stage1_val = training.accuracy(head, f_all[val], y_all[val])
            fe_correct = training.correct(head, f_test, y_test)
            block3 = finetune.block_on_features(vgg, "block3", z_all.shape[1:])
            inputs = keras.Input(shape=z_all.shape[1:])
            model = keras.Model(inputs, head(block3(inputs)))
            block3.trainable = True
            training.compiled(model, rate)
            record = Record()
            model.fit(
                feature_rows.Batches(z_all, y_all, train, 64, shuffle=True, seed=seed),
                epochs=epochs,
                verbose=0,
                shuffle=False,
                callbacks=[record],
                validation_data=(z_all[val], y_all[val]),
            )
            records.append(
                {
                    "seed": seed,
                    "rate": rate,
                    "stage1_val": stage1_val,
                    "fe_correct": fe_correct.tolist(),
                    "val_accuracy": record.val_accuracy,
                    "test_correct": record.test_correct,
                }
            )
            print(
                f"seed {seed}, rate {rate:g}: stage 1 validation {stage1_val:.3f}, "
                f"test {fe_correct.mean():.3f}; stage 2 validation "
                + ", ".join(f"{v:.3f}" for v in record.val_accuracy)
                + "; test "
                + ", ".join(f"{np.mean(t):.3f}" for t in record.test_correct),
                flush=True,
            )
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_suffix(".part")
            tmp.write_text(json.dumps(records))
            tmp.replace(out)


def chosen(record, epochs, patience=2):
    """Test correctness of the model chapter 05 would keep after ``epochs``."""
    best, best_epoch, waited = -1.0, 0, 0
    for epoch, value in enumerate(record["val_accuracy"][:epochs]):
        if value > best:
            best, best_epoch, waited = value, epoch, 0
        else:
            waited += 1
            if waited >= patience:
                break
    if best <= record["stage1_val"]:  # the epoch-0 rule
        return np.array(record["fe_correct"])
    return np.array(record["test_correct"][best_epoch])


def summary(path):
    from utils.training import paired_bootstrap

    records = json.loads(Path(path).read_text())
    seeds = sorted({r["seed"] for r in records})
    for rate in sorted({r["rate"] for r in records}):
        by_seed = {r["seed"]: r for r in records if r["rate"] == rate}
        for epochs in range(1, len(next(iter(by_seed.values()))["val_accuracy"]) + 1):
            kept = {s: chosen(by_seed[s], epochs) for s in seeds}
            fe = {s: np.array(by_seed[s]["fe_correct"]) for s in seeds}
            gains = " ".join(f"{kept[s].mean() - fe[s].mean():+.3f}" for s in seeds)
            triples = list(itertools.combinations(seeds, 3))
            above = sum(
                paired_bootstrap(
                    np.stack([kept[s] for s in t]), np.stack([fe[s] for s in t]), n_resamples=1000
                )[1]
                > 0
                for t in triples
            )
            print(
                f"rate {rate:g}, {epochs} epoch(s): per seed {gains}; interval above "
                f"zero in {above} of {len(triples)} three-seed subsets"
            )


if __name__ == "__main__":
    if sys.argv[1:2] == ["run"]:
        per_class, seeds, rates, epochs = sys.argv[2:6]
        run(
            int(per_class),
            [int(s) for s in seeds.split(",")],
            [float(r) for r in rates.split(",")],
            int(epochs),
            ROOT / "_build" / f"stage2_{per_class}.json",
        )
    elif sys.argv[1:2] == ["summary"]:
        summary(sys.argv[2])
    else:
        sys.exit(__doc__)
