"""Helpers for the book "Transfer Learning, Hands-On".

Chapters import modules by name, for example ``from utils import data, models``.
Importing the package before TensorFlow quietens TensorFlow's C++ start-up
messages (the Makefile sets the same variables for JupyterLab, the tests and
the website build), so notebook outputs stay clean.
"""

import os

# Level 3 hides TensorFlow's C++ log lines up to ERROR. TensorFlow 2.21 logs a
# harmless "NodeDef mentions attribute use_unbounded_threadpool" ERROR whenever
# Keras fits on arrays whose last batch is partial, and level 2 lets it through.
# Real failures still raise Python exceptions.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# oneDNN stays on (TensorFlow's default): on a 2-core AVX-512 CPU it trains VGG16
# about 3 times faster than with TF_ENABLE_ONEDNN_OPTS=0 and, with op determinism
# (training.seed_everything), two seeded runs still give identical weights.
# TensorFlow prints a one-line "oneDNN custom operations are on" notice to stderr.
