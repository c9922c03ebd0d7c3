"""Training: recipes, augmentation, tf.data pipelines, resumable run directories.

``train_run(model, dataset, recipe=...)`` is the library entry point behind ``edgenets train``.
Nothing here imports TensorFlow at module level.
"""

from edgenets.train.recipes import RECIPES, Recipe, get_recipe
from edgenets.train.run import Settings, train_run

__all__ = ["RECIPES", "Recipe", "Settings", "get_recipe", "train_run"]
