"""edgenets: train small CNNs, quantise them to TFLite, benchmark them on the edge.

Importing the package is cheap: TensorFlow is only imported inside the functions that
train, convert or report, never at module level, so the device side (``edgenets bench``,
``edgenets compare``) runs with ``pip install "edgenets[device]"`` alone.
"""

__version__ = "0.1.0"
