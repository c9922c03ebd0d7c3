"""The model registry (timm-style): ``@register_model``, ``create_model``, ``list_models``.

A model family module decorates its public builder; the CLI's ``--model`` choices, the ``edgenets
models`` table and the test matrix all come from here, so adding a model is adding one function.
The registration also carries what a caller needs to feed the model without reading its code, as
timm's pretrained configs do: the input it was designed for, the preprocessing it expects and the
smallest input it accepts. Nothing in this module imports TensorFlow: registering is cheap,
building is not.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from edgenets.errors import InputError

Builder = Callable[..., Any]


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about a model without building it.

    ``default_input`` is the (height, width, channels) ``create_model`` builds when given none;
    ``preprocessing`` the recommended way from uint8 pixels to the model's input (an
    ``edgenets.preprocessing`` spec); ``min_input`` the smallest height and width it accepts.
    """

    name: str
    builder: Builder
    description: str
    paper: str
    default_input: tuple[int, int, int] = (28, 28, 1)
    preprocessing: Any = "pixels/255"
    min_input: int = 1

    def as_dict(self) -> dict:
        return {"name": self.name, "description": self.description, "paper": self.paper,
                "default_input": list(self.default_input), "preprocessing": self.preprocessing,
                "min_input": self.min_input}


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(
    fn: Optional[Builder] = None,
    *,
    name: Optional[str] = None,
    description: str = "",
    paper: str = "",
    default_input: Sequence[int] = (28, 28, 1),
    preprocessing: Any = "pixels/255",
    min_input: int = 1,
):
    """Register a builder under ``name`` (default: the function's name).

    Usable bare (``@register_model``: the description is the docstring's first line) or with
    metadata (``@register_model(description=..., paper=..., default_input=..., preprocessing=...,
    min_input=...)``).
    """
    from edgenets import preprocessing as prep

    shape = tuple(default_input)
    if len(shape) != 3 or not all(isinstance(d, int) and d > 0 for d in shape):
        raise ValueError(f"default_input must be (height, width, channels). Received: {default_input!r}")
    if not isinstance(min_input, int) or not 1 <= min_input <= min(shape[:2]):
        raise ValueError(f"min_input must be an integer in 1..{min(shape[:2])}. Received: {min_input!r}")
    spec = prep.check(preprocessing, "register_model(preprocessing=...)")

    def decorate(builder: Builder) -> Builder:
        key = name or builder.__name__
        if key in _REGISTRY and _REGISTRY[key].builder is not builder:
            raise ValueError(f"model {key!r} is registered twice")
        doc = (inspect.getdoc(builder) or "").strip()
        _REGISTRY[key] = ModelInfo(key, builder, description or doc.split("\n", 1)[0], paper, shape, spec, min_input)
        return builder

    return decorate(fn) if fn is not None else decorate


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(_REGISTRY)


def get_model_info(name: str) -> ModelInfo:
    """Metadata of a registered model; InputError naming the choices for an unknown name."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise InputError(f"unknown model {name!r}: choose one of {', '.join(list_models())}") from None


def create_model(name: str, *, num_classes: int = 10, input_shape: Optional[Sequence[int]] = None, **kwargs: Any):
    """Build a fresh, uncompiled ``keras.Model`` by registered name.

    ``input_shape`` is (height, width, channels); None builds the model's registered
    ``default_input``. Inputs are float32 images preprocessed as the registration says (pixels/255
    for the zoo); outputs are softmax probabilities. Every model picks its number of stride-2
    steps from the input's height and width (``edgenets.models.common``), and an input below its
    ``min_input`` is a one-line InputError. Extra keyword arguments (``alpha``, ``dropout``, ...) go
    to the family's builder; one it does not accept is an InputError that lists the accepted ones.
    """
    from edgenets.models.common import check_common, check_min_input

    info = get_model_info(name)
    accepted = [
        p for p in inspect.signature(info.builder).parameters if p not in ("num_classes", "input_shape")
    ]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise InputError(
            f"{name}: unknown argument {unknown[0]!r} (accepted: {', '.join(accepted) or 'none'})"
        )
    shape = info.default_input if input_shape is None else input_shape
    # The registered name, not the builder's, in the error (a builder may be registered twice).
    check_min_input(name, check_common(num_classes, shape), info.min_input)
    return info.builder(num_classes=num_classes, input_shape=shape, **kwargs)
