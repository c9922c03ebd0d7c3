"""The model registry (timm-style): ``@register_model``, ``create_model``, ``list_models``.

A model family module decorates its public builder; the CLI's ``--model`` choices, the ``edgenets
models`` table and the test matrix all come from here, so adding a model is adding one function.
Nothing in this module imports TensorFlow: registering is cheap, building is not.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Optional

from edgenets.errors import InputError

Builder = Callable[..., Any]


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about a model without building it."""

    name: str
    builder: Builder
    description: str
    paper: str

    def as_dict(self) -> dict:
        return {"name": self.name, "description": self.description, "paper": self.paper}


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(
    fn: Optional[Builder] = None, *, name: Optional[str] = None, description: str = "", paper: str = ""
):
    """Register a builder under ``name`` (default: the function's name).

    Usable bare (``@register_model``: the description is the docstring's first line) or with
    metadata (``@register_model(description=..., paper=...)``).
    """

    def decorate(builder: Builder) -> Builder:
        key = name or builder.__name__
        if key in _REGISTRY and _REGISTRY[key].builder is not builder:
            raise ValueError(f"model {key!r} is registered twice")
        doc = (inspect.getdoc(builder) or "").strip()
        _REGISTRY[key] = ModelInfo(key, builder, description or doc.split("\n", 1)[0], paper)
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


def create_model(name: str, *, num_classes: int = 10, input_shape=(28, 28, 1), **kwargs: Any):
    """Build a fresh, uncompiled ``keras.Model`` by registered name.

    Inputs are float32 images in [0, 1] of ``input_shape``; outputs are softmax probabilities.
    Extra keyword arguments (``alpha``, ``dropout``, ...) go to the family's builder; one it does
    not accept is an InputError that lists the accepted ones.
    """
    info = get_model_info(name)
    accepted = [
        p for p in inspect.signature(info.builder).parameters if p not in ("num_classes", "input_shape")
    ]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise InputError(
            f"{name}: unknown argument {unknown[0]!r} (accepted: {', '.join(accepted) or 'none'})"
        )
    return info.builder(num_classes=num_classes, input_shape=input_shape, **kwargs)
