"""Export: Keras model -> TFLite (float32 / float16 / dynamic / int8), sidecars, verification.

``export_run`` exports a training run directory; ``export_keras`` the user's own ``.keras`` file
with a data set to calibrate and verify on. Nothing here imports TensorFlow at import time; the
functions that convert do, lazily.
"""

from __future__ import annotations

__all__ = ["to_tflite", "export_run", "export_keras"]


def __getattr__(name: str):
    # Lazy re-exports: `from edgenets.export import export_run` without importing TF up front.
    if name == "to_tflite":
        from edgenets.export.convert import to_tflite

        return to_tflite
    if name in ("export_run", "export_keras"):
        from edgenets.export import run

        return getattr(run, name)
    raise AttributeError(name)
