"""Interactive panels for the chapters, each usable without a browser.

Every panel keeps its logic in plain methods (``show(...)``) that tests call
directly; the ipywidgets controls only call those methods. Values out of
range are clamped with a message instead of raising inside a callback.
Static pages cannot run Python, so each chapter also shows a static result
beside the panel; a ``GridPanel`` answers there too, from answers drawn in
advance on a grid of values. Introduced in chapter 00.

Chapters use the names below as ``widgets.<name>``; each lives in a module:

- ``base``: ``figure_title``, ``figure_bundle``, ``img_html``, ``clamp``
- ``grid``: ``GridPanel`` (chapters 00 to 04)
- ``classes``: ``ClassExplorer`` (chapter 00)
- ``feature_maps``: ``FeatureMapExplorer`` (chapter 01)
- ``learning_rate``: ``LearningRateExplorer`` (chapter 02)
- ``freeze_depth``: ``FreezeDepthExplorer`` (chapter 03)
- ``head``: ``HeadExplorer`` and ``dead_unit_share`` (chapter 04)

IPython's ``display`` is looked up in ``base`` and ``IPYWIDGETS_7`` in ``grid``: a
test that replaces one replaces it there.
"""

from utils.widgets.base import clamp, figure_bundle, figure_title, img_html
from utils.widgets.classes import ClassExplorer
from utils.widgets.feature_maps import FeatureMapExplorer
from utils.widgets.freeze_depth import FreezeDepthExplorer
from utils.widgets.grid import GridPanel
from utils.widgets.head import HeadExplorer, dead_unit_share
from utils.widgets.learning_rate import LearningRateExplorer

__all__ = [
    "ClassExplorer",
    "FeatureMapExplorer",
    "FreezeDepthExplorer",
    "GridPanel",
    "HeadExplorer",
    "LearningRateExplorer",
    "clamp",
    "dead_unit_share",
    "figure_bundle",
    "figure_title",
    "img_html",
]
