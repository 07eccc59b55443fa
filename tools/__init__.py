"""Build-only tools of the book: run by hand or by the Makefile, never imported by a chapter.

Run them from the repository root, for example ``python -m tools.make_subset``.
"""
