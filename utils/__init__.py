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
# Without this TensorFlow prints an "oneDNN custom operations are on" banner in
# every process; measured on the 2-core CPU, VGG16 runs equally fast either way.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
