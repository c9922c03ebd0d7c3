"""The search space of a sweep: lists of settings, checked at the door and expanded into trials.

A *trial* is one training -- (model, width multiplier ``alpha``, recipe settings) -- exported at every
precision of the space; each exported precision is a *candidate* (:mod:`edgenets.sweep.front`).

The space comes from command-line lists (:func:`space_from_options`, ``--models mobilenet,mobilenet_v2
--alpha 0.25,0.5,1.0``) or a small JSON/YAML file (:func:`load_space`) with the same keys::

    {"models": ["mobilenet", "mobilenet_v2"], "alpha": [0.25, 0.5, 1.0], "precisions": ["float32", "int8"],
     "epochs": 4, "dataset": "mnist", "search": "random", "num_samples": 4, "sampling_seed": 0}

The searched keys (:data:`AXES`) take one value or a list; the fixed keys (:data:`FIXED`: the data and
its split) take one value, so every trial is measured on the same test images. ``grid`` search is
every combination, in ``itertools.product`` order over :data:`AXES`; ``random`` search is
``num_samples`` distinct combinations drawn with ``sampling_seed``. Every bad value is a one-line
:class:`~edgenets.errors.InputError` that names the option (``--alpha``) or the file and key.

Nothing here imports TensorFlow or Ray.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import numpy as np

from edgenets.errors import InputError, MissingDependencyError

# searched key (file key; the CLI option is --key with '-' for '_') -> the Trial field it sets
AXES: dict[str, str] = {"models": "model", "alpha": "alpha", "recipe": "recipe", "epochs": "epochs",
                        "batch_size": "batch_size", "augment": "augment", "seed": "seed"}
DATA_OPTIONS = ("color", "image_size", "image_shape")  # load_dataset's options, checked by edgenets.data.options
FIXED = ("dataset", "limit", "val_split", "preprocessing", *DATA_OPTIONS)
SEARCHES = ("grid", "random")
KEYS = (*AXES, "precisions", *FIXED, "search", "num_samples", "sampling_seed")

DEFAULT_PRECISIONS = ("float32", "int8")
# None: the recipe's own value (train_run fills it)
AXIS_DEFAULTS: dict[str, tuple] = {"alpha": (1.0,), "recipe": ("default",), "epochs": (None,),
                                   "batch_size": (None,), "augment": (None,), "seed": (0,)}
FIXED_DEFAULTS: dict[str, Any] = {"dataset": "mnist", "limit": None, "val_split": 0.1,
                                  "preprocessing": "pixels/255"}
ID_LENGTH = 10  # hex digits of the settings' sha256: a trial's id and the end of its run name


# ------------------------------------------------------------------ trials

@dataclass(frozen=True)
class Trial:
    """One training of the sweep, and the precisions it is exported at.

    ``id`` is a short hash of the training settings (not the precisions: adding a precision does not
    make a new training), so it is stable across runs and resumes of the same space.
    """

    model: str
    alpha: float
    recipe: str
    epochs: Optional[int]  # None: the recipe's
    batch_size: Optional[int]  # None: the recipe's, fitted to the data by train_run
    augment: Optional[str]  # None: the recipe's
    seed: int
    dataset: str
    limit: Optional[int]
    val_split: float
    preprocessing: str
    data_options: dict = field(default_factory=dict)  # load_dataset's color / image_size / image_shape, as JSON
    precisions: tuple[str, ...] = DEFAULT_PRECISIONS

    def __hash__(self) -> int:  # data_options is a dict; the id says everything the training depends on
        return hash((self.id, self.precisions))

    def training(self) -> dict:
        """The settings that determine the training, as JSON values (what the id hashes)."""
        return {"model": self.model, "alpha": float(self.alpha), "recipe": self.recipe, "epochs": self.epochs,
                "batch_size": self.batch_size, "augment": self.augment, "seed": self.seed, "dataset": self.dataset,
                "limit": self.limit, "val_split": float(self.val_split), "preprocessing": self.preprocessing,
                "data_options": dict(sorted(self.data_options.items()))}

    @property
    def id(self) -> str:
        text = json.dumps(self.training(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:ID_LENGTH]

    @property
    def name(self) -> str:
        """The run directory's name: readable, and unique through the id (a plain folder name)."""
        return f"{self.model}-a{self.alpha:g}-{self.id}"

    def train_kwargs(self) -> dict:
        """Keyword arguments for ``edgenets.train.train_run`` (``model`` included), run name included.

        ``alpha`` is among them: train_run must accept it and pass it to ``create_model``.
        """
        kwargs = {k: v for k, v in self.training().items() if k != "data_options"}
        kwargs.update(self.data_options)
        kwargs["name"] = self.name
        return kwargs

    def as_dict(self) -> dict:
        return {"id": self.id, "name": self.name, **self.training(), "precisions": list(self.precisions)}

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> "Trial":
        """A trial back from :meth:`as_dict` (a Ray config, a results file); a stored id must still match."""
        try:
            trial = cls(**{k: row[k] for k in ("model", "alpha", "recipe", "epochs", "batch_size", "augment", "seed",
                                               "dataset", "limit", "val_split", "preprocessing")},
                        data_options=dict(row.get("data_options") or {}),
                        precisions=tuple(row.get("precisions", DEFAULT_PRECISIONS)))
        except (KeyError, TypeError) as exc:
            raise InputError(f"not a sweep trial ({type(exc).__name__}: {exc})") from None
        if "id" in row and row["id"] != trial.id:
            raise InputError(f"trial {row['id']!r}: its settings hash to {trial.id!r}; the row was edited or is "
                             f"from another edgenets version")
        return trial


# ------------------------------------------------------------------ the space

@dataclass(frozen=True)
class SearchSpace:
    """The checked space: each axis's values (by Trial field, in :data:`AXES` order), the precisions,
    the fixed settings, and how to search it."""

    axes: dict[str, tuple]
    precisions: tuple[str, ...]
    fixed: dict
    search: str = "grid"
    num_samples: Optional[int] = None
    sampling_seed: int = 0

    @property
    def size(self) -> int:
        """The number of distinct trials (grid points)."""
        return math.prod(len(values) for values in self.axes.values())

    def trial_at(self, index: int) -> Trial:
        """Grid point ``index`` (mixed radix, the last axis fastest: ``itertools.product`` order)."""
        chosen: dict[str, Any] = {}
        for name in reversed(list(self.axes)):
            values = self.axes[name]
            index, digit = divmod(index, len(values))
            chosen[name] = values[digit]
        fixed = {k: v for k, v in self.fixed.items() if k not in DATA_OPTIONS}
        data_options = {k: v for k, v in self.fixed.items() if k in DATA_OPTIONS and v is not None}
        return Trial(**chosen, **fixed, data_options=data_options, precisions=self.precisions)

    def grid(self) -> list[Trial]:
        return [self.trial_at(i) for i in range(self.size)]

    def sample(self, num_samples: int, seed: int = 0) -> list[Trial]:
        """``num_samples`` distinct grid points, drawn with ``seed`` (the same seed, the same trials, in the
        same order)."""
        if not 0 < num_samples <= self.size:
            raise InputError(f"--num-samples must be between 1 and the space's {self.size} distinct trials. "
                             f"Received: {num_samples}")
        picks = np.random.default_rng(seed).choice(self.size, size=num_samples, replace=False)
        return [self.trial_at(int(i)) for i in picks]

    def trials(self) -> list[Trial]:
        """The trials the space's search asks for."""
        if self.search == "random":
            return self.sample(int(self.num_samples), self.sampling_seed)  # type: ignore[arg-type]
        return self.grid()

    def as_dict(self) -> dict:
        """The space in file form (load_space reads it back as the same space)."""
        # an axis left to the recipe (None) is left out: absent means the same
        out: dict = {key: list(self.axes[name]) for key, name in AXES.items() if self.axes[name] != (None,)}
        out["precisions"] = list(self.precisions)
        out.update({k: v for k, v in self.fixed.items() if v is not None})
        out["search"] = self.search
        if self.search == "random":
            out["num_samples"] = self.num_samples
            out["sampling_seed"] = self.sampling_seed
        return out


# ------------------------------------------------------------------ checking values

def _option(key: str, source: Optional[str]) -> str:
    """How an error names a key: the CLI option, or the file and its key."""
    return f"--{key.replace('_', '-')}" if source is None else f"{source}: {key}"


def _items(value: Any, opt: str) -> list:
    """A CLI list ("a,b"), a file list, or one value, as a list of items."""
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
        if any(not part for part in items) and value.strip():
            raise InputError(f"{opt}: empty item in {value!r}; separate values with single commas")
        items = [part for part in items if part]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        items = [value]
    if not items:
        raise InputError(f"{opt}: no values; the search space would be empty (give at least one)")
    return items


def _integer(value: Any, opt: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str, np.integer)):
        raise InputError(f"{opt} must be a whole number. Received: {value!r}")
    try:
        return int(value)
    except ValueError:
        raise InputError(f"{opt} must be a whole number. Received: {value!r}") from None


def _number(value: Any, opt: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, np.integer, np.floating)):
        raise InputError(f"{opt} must be a number. Received: {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise InputError(f"{opt} must be a number. Received: {value!r}") from None
    if not math.isfinite(number):
        raise InputError(f"{opt} must be a finite number. Received: {value!r}")
    return number


def _text(value: Any, opt: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{opt} must be a name. Received: {value!r}")
    return value.strip()


def _positive_int(value: Any, opt: str) -> int:
    number = _integer(value, opt)
    if number <= 0:
        raise InputError(f"{opt} must be > 0. Received: {number}")
    return number


def _alpha(value: Any, opt: str) -> float:
    number = _number(value, opt)
    if number <= 0:
        raise InputError(f"{opt} must be > 0 (the width multiplier). Received: {value!r}")
    return number


def _seed(value: Any, opt: str) -> int:
    number = _integer(value, opt)
    if not 0 <= number < 2**32:
        raise InputError(f"{opt} must be between 0 and 2**32 - 1. Received: {number}")
    return number


def _model(value: Any, opt: str) -> str:
    from edgenets.models import get_model_info  # the registry; no Keras import

    name = _text(value, opt)
    try:
        get_model_info(name)
    except InputError as exc:
        raise InputError(f"{opt}: {exc}") from None
    return name


def _recipe(value: Any, opt: str) -> str:
    from edgenets.train.recipes import RECIPES

    name = _text(value, opt)
    if name not in RECIPES:
        raise InputError(f"{opt}: unknown recipe {name!r}: choose one of {', '.join(RECIPES)}")
    return name


def _augment(value: Any, opt: str) -> str:
    from edgenets.train.recipes import AUGMENTATIONS

    name = _text(value, opt)
    if name not in AUGMENTATIONS:
        raise InputError(f"{opt}: unknown augmentation {name!r}: choose one of {', '.join(AUGMENTATIONS)}")
    return name


def _precision(value: Any, opt: str) -> str:
    from edgenets.formats import get_precision

    name = _text(value, opt)
    try:
        get_precision(name)
    except InputError as exc:
        raise InputError(f"{opt}: {exc}") from None
    return name


def _val_split(value: Any, opt: str) -> float:
    number = _number(value, opt)
    if not 0.0 < number < 1.0:
        raise InputError(f"{opt} must be between 0 and 1 (exclusive). Received: {value!r}")
    return number


def _preprocessing(value: Any, opt: str) -> str:
    from edgenets.preprocessing import check

    return check(_text(value, opt), opt)


def _search(value: Any, opt: str) -> str:
    name = _text(value, opt)
    if name not in SEARCHES:
        raise InputError(f"{opt}: unknown search {name!r}: choose one of {', '.join(SEARCHES)}")
    return name


Check = Callable[[Any, str], Any]
AXIS_CHECKS: dict[str, Check] = {"models": _model, "alpha": _alpha, "recipe": _recipe, "epochs": _positive_int,
                                 "batch_size": _positive_int, "augment": _augment, "seed": _seed}
FIXED_CHECKS: dict[str, Check] = {"dataset": _text, "limit": _positive_int, "val_split": _val_split,
                                  "preprocessing": _preprocessing}


def _unique(values: list) -> tuple:
    """In order, without repeats (0.5 and "0.5" are one value once checked)."""
    return tuple(dict.fromkeys(values))


def _data_options(values: Mapping[str, Any], source: Optional[str]) -> dict:
    from edgenets.data.options import LoadOptions

    given = {k: values[k] for k in DATA_OPTIONS if values.get(k) is not None}
    for key, value in given.items():
        if isinstance(value, (list, tuple)) and key == "color":
            raise InputError(f"{_option(key, source)}: one value, not a list (every trial uses the same data)")
    try:
        return LoadOptions.parse(**given).as_dict()
    except InputError as exc:
        raise InputError(f"{source}: {exc}" if source else str(exc)) from None


def build_space(values: Mapping[str, Any], *, source: Optional[str] = None) -> SearchSpace:
    """Check every key of ``values`` (CLI strings, file values; None or absent: the default) and return the
    space. ``source`` names a file in the errors; None names CLI options."""
    unknown = [k for k in values if k not in KEYS]
    if unknown:
        raise InputError(f"{source or 'sweep'}: unknown key {unknown[0]!r}; known: {', '.join(KEYS)}")
    given = {k: v for k, v in values.items() if v is not None}

    if "models" not in given:
        from edgenets.models import list_models

        raise InputError(f"{_option('models', source)}: the search space has no models; give at least one "
                         f"(choose from {', '.join(list_models())})")
    axes: dict[str, tuple] = {}
    for key, name in AXES.items():
        opt = _option(key, source)
        if key in given:
            axes[name] = _unique([AXIS_CHECKS[key](item, opt) for item in _items(given[key], opt)])
        else:
            axes[name] = AXIS_DEFAULTS[name]
    opt = _option("precisions", source)
    precisions = (_unique([_precision(item, opt) for item in _items(given["precisions"], opt)])
                  if "precisions" in given else DEFAULT_PRECISIONS)

    fixed = dict(FIXED_DEFAULTS)
    for key, check in FIXED_CHECKS.items():
        if key in given:
            value, opt = given[key], _option(key, source)
            if isinstance(value, (list, tuple)):
                raise InputError(f"{opt}: one value, not a list (every trial uses the same data and split; "
                                 f"the searched keys are {', '.join(AXES)})")
            fixed[key] = check(value, opt)
    fixed.update(_data_options(given, source))

    search = _search(given.get("search", "grid"), _option("search", source))
    num_samples = None
    if "num_samples" in given:
        num_samples = _positive_int(given["num_samples"], _option("num_samples", source))
    sampling_seed = _seed(given.get("sampling_seed", 0), _option("sampling_seed", source))
    space = SearchSpace(axes, precisions, fixed, search, num_samples, sampling_seed)
    if search == "random":
        if num_samples is None:
            raise InputError(f"{_option('num_samples', source)}: random search needs the number of trials to draw")
        if num_samples > space.size:
            raise InputError(f"{_option('num_samples', source)} must be at most the space's {space.size} distinct "
                             f"trials (or use grid search). Received: {num_samples}")
    elif num_samples is not None:
        raise InputError(f"{_option('num_samples', source)}: only random search draws a number of trials; "
                         f"grid search runs all {space.size}")
    elif "sampling_seed" in given:
        raise InputError(f"{_option('sampling_seed', source)}: only random search draws trials; grid search runs all")
    return space


def space_from_options(
    models: Union[str, Sequence[str], None],
    *,
    alpha: Union[str, Sequence[float], float, None] = None,
    precisions: Union[str, Sequence[str], None] = None,
    recipe: Union[str, Sequence[str], None] = None,
    epochs: Union[str, Sequence[int], int, None] = None,
    batch_size: Union[str, Sequence[int], int, None] = None,
    augment: Union[str, Sequence[str], None] = None,
    seed: Union[str, Sequence[int], int, None] = None,
    dataset: Optional[str] = None,
    limit: Optional[int] = None,
    val_split: Optional[float] = None,
    preprocessing: Optional[str] = None,
    color: Optional[str] = None,
    image_size: Union[str, Sequence[int], None] = None,
    image_shape: Union[str, Sequence[int], None] = None,
    search: Optional[str] = None,
    num_samples: Optional[int] = None,
    sampling_seed: Optional[int] = None,
) -> SearchSpace:
    """The space from command-line values: comma-separated lists ("0.25,0.5,1.0") or Python sequences.
    None leaves a key at its default; errors name the CLI option."""
    values = {k: v for k, v in locals().items() if k in KEYS}
    return build_space(values)


def read_space_file(path: Union[str, Path]) -> dict:
    """The mapping in a .json (always) or .yaml/.yml (with PyYAML) space file; one-line errors."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".json", ".yaml", ".yml"):
        raise InputError(f"{p}: a sweep space file is .json, .yaml or .yml. Received: {p.suffix or 'no suffix'}")
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: cannot read it ({type(exc).__name__}: {exc})") from None
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{p}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    else:
        try:
            import yaml
        except ImportError:
            raise MissingDependencyError(f"{p}: reading YAML needs PyYAML: pip install pyyaml, "
                                         f"or write the space as JSON") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            from edgenets.errors import first_line

            raise InputError(f"{p}: not valid YAML: {first_line(exc)}") from None
    if not isinstance(data, dict):
        raise InputError(f"{p}: a sweep space is a mapping of keys ({', '.join(list(AXES)[:3])}, ...), "
                         f"not {type(data).__name__}")
    return data


def load_space(path: Union[str, Path]) -> SearchSpace:
    """The space in a JSON/YAML file; errors name the file and the key."""
    return build_space(read_space_file(path), source=str(path))
