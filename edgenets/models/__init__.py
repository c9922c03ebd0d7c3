"""The model zoo: a registry of small CNNs (no TensorFlow import until a model is built).

``create_model(name, num_classes=10, input_shape=None, **kw)`` builds a fresh Keras model for any
(H, W, C) input of at least the model's ``min_input`` (None: its registered ``default_input``,
28x28x1); each model picks its number of stride-2 steps from H and W (``edgenets.models.common``).
``list_models()`` names them; ``get_model_info(name)`` gives the description, paper, default
input, preprocessing and smallest input; ``model_stats(model)`` counts parameters and MACs from
the layer shapes, for the input shape the model was built for.
"""

from __future__ import annotations

# Importing the family modules registers their builders; none of them imports Keras at module level.
from edgenets.models import mobilenet, mobilenet_v2, shufflenet, shufflenet_v2  # noqa: F401
from edgenets.models.complexity import LayerStats, ModelStats, layer_macs, model_stats, stats_for
from edgenets.models.registry import ModelInfo, create_model, get_model_info, list_models, register_model

__all__ = [
    "LayerStats", "ModelInfo", "ModelStats", "create_model", "get_model_info", "layer_macs", "list_models",
    "model_stats", "register_model", "stats_for",
]
