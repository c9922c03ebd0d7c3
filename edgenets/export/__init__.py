"""Export: Keras model -> TFLite (float32 / float16 / dynamic / int8), sidecars, verification.

Nothing here imports TensorFlow at import time; the functions that convert do, lazily.
"""

from __future__ import annotations

__all__ = ["to_tflite", "export_run"]


def __getattr__(name: str):
    # Lazy re-exports: `from edgenets.export import export_run` without importing TF up front.
    if name == "to_tflite":
        from edgenets.export.convert import to_tflite

        return to_tflite
    if name == "export_run":
        from edgenets.export.run import export_run

        return export_run
    raise AttributeError(name)
