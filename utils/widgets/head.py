"""Chapter 04's panel: train a head on cached features and see how it learns."""

from __future__ import annotations

import time

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from utils import data, learning_curves
from utils.validation import finite_number, flag, whole_number
from utils.widgets.base import Panel, clamp, time_limit


class HeadExplorer(Panel):
    """Choose the head's hyper-parameters, train it on cached features, see how it learns.

    The head is the recipe's head (Flatten -> Dense(hidden, relu) ->
    [Dropout] -> Dense(10, softmax)), trained with Adam on ``train_features``
    and validated on ``val_features`` after every epoch, on the raw features or
    on standardised ones (each feature minus its training mean, divided by its
    training standard deviation). Each answer also reports the share of *dead*
    hidden units: those whose ReLU outputs zero for every validation example.

    Because the features are cached, an answer takes seconds: in the panel
    (``show``), training stops early, with a message, when the next epoch would
    not leave time to draw the answer within ``time_budget`` seconds. ``train``
    runs all the epochs asked for unless given a budget (static tables use it
    without one). Values out of range are clamped with a message; values of
    the wrong kind (text, NaN, a fractional number of epochs or units) raise
    ValueError. The same settings always give the same result.

    The panel keeps the compiled heads of its last ``HEADS_KEPT`` shapes
    (hidden units, dropout) and starts one over (``finetune.start_over``) when
    a shape comes again: it trains exactly as a new head would, without
    building TensorFlow's training step again. Introduced in chapter 04.
    """

    LIMITS = {
        "hidden_units": (1, 4096),
        "dropout": (0.0, 0.9),
        "learning_rate": (1e-5, 1e-1),
        "epochs": (1, 40),
    }
    UNIT_CHOICES = (16, 32, 64, 128, 256, 512, 1024, 2048)
    DRAW_SECONDS = 0.5  # kept free for drawing the answer
    HEADS_KEPT = 4  # compiled heads kept for reuse (each holds Adam's state)
    ALT = "Training and validation accuracy per epoch: {title}"

    def __init__(
        self,
        train_features: np.ndarray,
        train_labels: np.ndarray,
        val_features: np.ndarray,
        val_labels: np.ndarray,
        *,
        batch_size: int = 128,
        seed: int = 0,
        time_budget: float = 3.0,
        hidden_units: int = 256,
        dropout: float = 0.0,
        learning_rate: float = 1e-3,
        epochs: int = 10,
    ):
        self._check_features(train_features, train_labels, val_features, val_labels)
        if time_budget <= self.DRAW_SECONDS:
            raise ValueError(f"time_budget must exceed {self.DRAW_SECONDS} s, got {time_budget}")
        if hidden_units not in self.UNIT_CHOICES:
            raise ValueError(f"hidden_units must start at one of {self.UNIT_CHOICES}")
        self.train_features = train_features.astype(np.float32, copy=False)
        self.train_labels = np.asarray(train_labels)
        self.val_features = val_features.astype(np.float32, copy=False)
        self.val_labels = np.asarray(val_labels)
        self._standardised = _standardise(self.train_features, self.val_features)
        self.batch_size, self.seed, self.time_budget = int(batch_size), seed, float(time_budget)
        self.result: dict = {}
        self._heads: dict = {}  # (hidden units, dropout) -> compiled head
        self._make_controls(hidden_units, dropout, learning_rate, epochs)
        super().__init__(before=("summary",))

    @staticmethod
    def _check_features(train_features, train_labels, val_features, val_labels) -> None:
        for name, x, y in (
            ("train", train_features, train_labels),
            ("validation", val_features, val_labels),
        ):
            if not isinstance(x, np.ndarray) or x.ndim < 2 or not len(x):
                raise ValueError(f"{name} features must be a non-empty array (N, ...)")
            data.check_labels(np.asarray(y), n=len(x), name=f"{name} labels")
        if train_features.shape[1:] != val_features.shape[1:]:
            raise ValueError(
                f"train and validation features differ in shape: "
                f"{train_features.shape[1:]} and {val_features.shape[1:]}"
            )

    def _make_controls(self, hidden_units, dropout, learning_rate, epochs) -> None:
        style = {"description_width": "110px"}
        self.units_dropdown = widgets.Dropdown(
            options=list(self.UNIT_CHOICES), value=hidden_units, description="Hidden units",
            style=style,
        )  # fmt: skip
        self.dropout_slider = widgets.FloatSlider(
            value=dropout, min=0.0, max=0.9, step=0.05, description="Dropout",
            continuous_update=False, style=style,
        )  # fmt: skip
        self.rate_slider = widgets.FloatLogSlider(
            value=learning_rate, base=10, min=-5, max=-1, step=0.25, description="Learning rate",
            readout_format=".1e", continuous_update=False, style=style,
        )  # fmt: skip
        self.epochs_slider = widgets.IntSlider(
            value=epochs, min=1, max=self.LIMITS["epochs"][1], description="Epochs",
            continuous_update=False, style=style,
        )  # fmt: skip
        self.standardise_box = widgets.Checkbox(value=False, description="Standardise features")
        self.train_button = widgets.Button(description="Train", button_style="primary")
        self.train_button.on_click(lambda _button: self._redraw())

    def check(self, hidden_units, dropout, learning_rate, epochs) -> tuple[dict, str]:
        """Validated settings (clamped into range) and the messages about any clamping."""
        raw = {
            "hidden_units": whole_number(hidden_units, "hidden_units"),
            "dropout": finite_number(dropout, "dropout"),
            "learning_rate": finite_number(learning_rate, "learning_rate"),
            "epochs": whole_number(epochs, "epochs"),
        }
        settings, messages = {}, []
        for name, value in raw.items():
            low, high = self.LIMITS[name]
            settings[name], message = clamp(value, low, high, name.replace("_", " ").capitalize())
            if message:
                messages.append(message)
        settings["hidden_units"] = int(settings["hidden_units"])
        settings["epochs"] = int(settings["epochs"])
        return settings, " ".join(messages)

    def train(
        self,
        hidden_units,
        dropout,
        learning_rate,
        epochs,
        standardise: bool = False,
        time_budget: float | None = None,
    ) -> dict:
        """Train a fresh head; return the settings, accuracies, dead units, history and time.

        With ``time_budget`` (seconds, counted from the call), training stops
        after the epoch that would make the next one end too late;
        ``epochs_run`` says how many ran.
        """
        start = time.perf_counter()
        settings, message = self.check(hidden_units, dropout, learning_rate, epochs)
        settings["standardise"] = flag(standardise, "standardise")
        x_train, x_val = (
            self._standardised if standardise else (self.train_features, self.val_features)
        )
        head = self._fresh_head(settings)
        history = head.fit(
            x_train,
            self.train_labels,
            epochs=settings["epochs"],
            batch_size=self.batch_size,
            validation_data=(x_val, self.val_labels),
            callbacks=[] if time_budget is None else [time_limit(head, start, time_budget)],
            verbose=0,
        ).history
        return self._result(settings, message, history, dead_unit_share(head, x_val), start)

    def _fresh_head(self, settings: dict):
        """A compiled head with this seed's initial weights and a new Adam optimiser."""
        from utils import finetune, models, training

        training.seed_everything(self.seed)
        fresh = models.recipe_head(
            self.train_features.shape[1:],
            hidden_units=settings["hidden_units"],
            dropout=settings["dropout"],
        )
        shape = (settings["hidden_units"], settings["dropout"])
        head = self._heads.pop(shape, None)
        if head is None:
            head = training.compiled(fresh, settings["learning_rate"])  # Adam
        else:
            finetune.start_over(head, fresh, settings["learning_rate"])
        self._heads[shape] = head  # the most recently used last
        while len(self._heads) > self.HEADS_KEPT:
            del self._heads[next(iter(self._heads))]
        return head

    def _result(self, settings: dict, message: str, history: dict, dead_share, start) -> dict:
        """What ``train`` returns, from the settings, the fit's history and the dead units."""
        epochs_run = len(history["accuracy"])
        if epochs_run < settings["epochs"]:
            stop = (
                f"Stopped after {epochs_run} of {settings['epochs']} epochs "
                f"to answer within {self.time_budget:g} s."
            )
            message = f"{message} {stop}".strip()
        return {
            **settings,
            "epochs_run": epochs_run,
            "train_accuracy": float(history["accuracy"][-1]),
            "val_accuracy": float(history["val_accuracy"][-1]),
            "best_val_accuracy": float(max(history["val_accuracy"])),
            "dead_share": dead_share,
            "history": {key: [float(v) for v in values] for key, values in history.items()},
            "seconds": time.perf_counter() - start,
            "message": message,
        }

    def show(self, hidden_units, dropout, learning_rate, epochs, standardise=False) -> plt.Figure:
        """Train within the time budget and draw training and validation accuracy per epoch."""
        self.result = r = self.train(
            hidden_units,
            dropout,
            learning_rate,
            epochs,
            standardise=standardise,
            time_budget=self.time_budget - self.DRAW_SECONDS,
        )
        self.message.value = r["message"]
        self.summary.value = self.describe(r)
        return self.curves(r)

    @staticmethod
    def describe(r: dict) -> str:
        """The summary line of a result of ``train``: accuracy, dead units, seconds."""
        return (
            f"Validation accuracy {r['val_accuracy']:.3f} after {r['epochs_run']} epochs "
            f"(best {r['best_val_accuracy']:.3f}); {r['dead_share']:.0%} of the "
            f"{r['hidden_units']} hidden units are dead (never active on a validation "
            f"image); {r['seconds']:.1f} s."
        )

    @staticmethod
    def curves(r: dict) -> plt.Figure:
        """Training and validation accuracy per epoch of a result of ``train``."""
        features = "standardised" if r["standardise"] else "raw"
        return learning_curves.accuracy_curves(
            r["history"],
            title=(
                f"{features} features, {r['hidden_units']} units, dropout {r['dropout']:.2f}, "
                f"learning rate {r['learning_rate']:.1e}: validation accuracy "
                f"{r['val_accuracy']:.3f} after {r['epochs_run']} epochs"
            ),
        )

    def _values(self) -> tuple:
        return (
            self.units_dropdown.value,
            self.dropout_slider.value,
            self.rate_slider.value,
            self.epochs_slider.value,
            self.standardise_box.value,
        )

    def _controls(self) -> widgets.VBox:
        """The controls; ``display`` trains once with their values."""
        return widgets.VBox(
            [
                widgets.HBox([self.units_dropdown, self.dropout_slider]),
                widgets.HBox([self.rate_slider, self.epochs_slider]),
                widgets.HBox([self.standardise_box, self.train_button]),
            ]
        )


def dead_unit_share(head, inputs: np.ndarray) -> float:
    """Share of the first dense layer's ReLU units that output zero for every one of ``inputs``.

    ``head`` is a head like the recipe's (Flatten -> Dense(relu) -> ...). A
    dead unit passes no gradient, so it no longer learns. Introduced in chapter 04.
    """
    dense = next(layer for layer in head.layers if hasattr(layer, "kernel"))
    kernel, bias = (np.asarray(w) for w in dense.get_weights())
    flat = np.asarray(inputs, dtype=np.float32).reshape(len(inputs), -1)
    alive = np.zeros(kernel.shape[1], dtype=bool)
    for begin in range(0, len(flat), 256):  # in chunks, to keep memory small
        alive |= ((flat[begin : begin + 256] @ kernel + bias) > 0).any(axis=0)
    return float(1.0 - alive.mean())


def _standardise(train: np.ndarray, val: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``train`` and ``val`` standardised with the training statistics, as the book's heads do
    (``models.standardization_stats``), in their original shapes."""
    from utils import models

    mean, variance = models.standardization_stats(train)
    return tuple(models.standardize(x, mean, variance).reshape(x.shape) for x in (train, val))
