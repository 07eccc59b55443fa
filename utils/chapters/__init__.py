"""Code that serves one chapter and is not what that chapter teaches.

Each module here is imported by one chapter (and by its tests, and the build
tools may use it). No shared module of ``utils`` imports one; a chapter's own
panel in ``utils.widgets`` may. ``tests/test_structure.py`` checks both.

- ``objective``: chapter 02's loss curves for its learning-rate panel
- ``onnx_inspect``: chapter 08's look inside an ONNX file
- ``image_files``: chapter 08's safe reading and writing of image files
- ``predict``: chapter 08's classification of image files with a saved model
- ``distributed``: chapter 11's functions, importable by its worker processes

Chapters import them as ``from utils.chapters import predict``.
"""
