"""The image recipe: everything that decides how a stored image file becomes a model's input.

Why one object, saved inside the model: a model only predicts well on pixels prepared the way it
was trained on. When training, fine-tuning, evaluation and prediction each derived the preparation
from their own options, a fine-tuned classifier that scored 0.675 on its validation images scored
0.485 on the same images through ``predict``. Now the recipe is decided once, when a model is
trained, travels inside its ``.keras`` file (:mod:`zoobot_tf.saving`) and every path that reads
images applies it through :mod:`zoobot_tf.data.inputs`. Training augmentation is the only thing
that separates the training path from the evaluation path.

Two stages, as timm's ``pretrained_cfg`` and keras-hub's preprocessors separate them:

1. **stored** (:class:`StoredFormat`, numpy / PIL / astropy, once per file): decode, fill invalid
   pixels, scale, resize to ``stored.size``, convert to ``stored.channels``, append masks, cast to
   ``stored.dtype``. This is exactly what a shard record holds; a catalog image is loaded the same
   way when it is read straight from its file.
2. **model input** (TensorFlow, per batch): ``uint8`` -> float32 in [0, 1] (float images as
   stored), channels converted to ``channels`` (band mean or repeat), then either the training
   augmentation (:class:`Augmentation`) or the evaluation centre crop of area ``eval_crop``, both
   resized to ``size`` x ``size``.

No TensorFlow or numpy here: configs, the command line and saved-model metadata read recipes
without building a pipeline.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

__all__ = [
    "ROTATIONS",
    "SCALING_NAMES",
    "STORED_DTYPES",
    "Augmentation",
    "ImageRecipe",
    "RecipeError",
    "StoredFormat",
    "DEFAULT_INPUT_SIZE",
    "DEFAULT_STORED_SIZE",
    "default_stored_size",
]

#: the intensity scalings (:data:`zoobot_tf.images.SCALINGS` is the same tuple, with the code)
SCALING_NAMES = ("none", "minmax", "asinh", "lupton", "lupton_high_contrast", "zscale", "sky_asinh")
STORED_DTYPES = ("uint8", "float16", "float32")
#: training rotations: any angle (reflect fill), multiples of 90 degrees (no interpolation of
#: the corners), or none
ROTATIONS = ("any", "90", "none")
#: the recipe format this code writes; readers migrate older ones
RECIPE_FORMAT = 1


class RecipeError(ValueError):
    """An image recipe that cannot be applied (bad values, or data stored another way)."""


def _pair(value, name) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError) as err:
        raise RecipeError(f"{name} must be two numbers (low, high), got {value!r}") from err
    return low, high


@dataclass(frozen=True)
class StoredFormat:
    """How a file is stored: what :func:`zoobot_tf.images.load_image` is asked for.

    ``channels`` counts image bands (1 = mean of RGB, 3 = RGB or a grey image repeated, N = N FITS
    bands as read); ``nan_mask`` appends one invalid-pixel channel per band and ``galaxy_mask`` one
    central-object channel, so a stored image has :attr:`total_channels` channels.
    """

    size: int
    channels: int
    scaling: str = "none"
    dtype: str = "uint8"
    nan_mask: bool = False
    galaxy_mask: bool = False

    def __post_init__(self):
        object.__setattr__(self, "size", int(self.size))
        object.__setattr__(self, "channels", int(self.channels))
        object.__setattr__(self, "scaling", "none" if self.scaling in (None, "", "raw") else str(self.scaling))
        object.__setattr__(self, "nan_mask", bool(self.nan_mask))
        object.__setattr__(self, "galaxy_mask", bool(self.galaxy_mask))
        if self.size < 1 or self.channels < 1:
            raise RecipeError(f"stored size and channels must be positive, got {self.size} and {self.channels}")
        if self.scaling not in SCALING_NAMES:
            raise RecipeError(f"unknown scaling {self.scaling!r}; choose one of {SCALING_NAMES}")
        if self.dtype not in STORED_DTYPES:
            raise RecipeError(f"unknown stored dtype {self.dtype!r}; choose one of {STORED_DTYPES}")
        if self.dtype == "uint8" and self.scaling == "sky_asinh":
            raise RecipeError("sky_asinh is not bounded to [0, 1]: store it as float16 or float32")

    @property
    def total_channels(self) -> int:
        return self.channels * (2 if self.nan_mask else 1) + int(self.galaxy_mask)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.size, self.size, self.total_channels)

    def load_kwargs(self) -> dict:
        """Keywords of :func:`zoobot_tf.images.load_image` that produce this format."""
        return {"size": self.size, "channels": self.channels, "scaling": self.scaling, "dtype": self.dtype,
                "nan_mask": self.nan_mask, "galaxy_mask": self.galaxy_mask}

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_manifest(cls, image_options: dict, dtype: str, image_shape) -> "StoredFormat":
        """The format a shard manifest records (``image_options`` + ``dtype``; ``image_shape`` for
        shards whose options predate the ``channels`` entry)."""
        options = dict(image_options or {})
        shape = [int(s) for s in image_shape]
        masks = int(bool(options.get("galaxy_mask")))
        channels = options.get("channels")
        if channels is None:
            channels = (shape[2] - masks) // (2 if options.get("nan_mask") else 1)
        return cls(size=options.get("size") or shape[0], channels=channels, scaling=options.get("scaling"),
                   dtype=dtype, nan_mask=options.get("nan_mask", False), galaxy_mask=options.get("galaxy_mask", False))

    def describe(self) -> str:
        masks = " + NaN masks" * self.nan_mask + " + galaxy mask" * self.galaxy_mask
        return f"{self.size} px, {self.channels} band(s){masks}, scaling {self.scaling}, {self.dtype}"


@dataclass(frozen=True)
class Augmentation:
    """Random training views of a galaxy (never applied at evaluation).

    ``crop_scale``: area fraction of the stored image a random crop keeps, drawn in this range
    (``(1, 1)``: no crop); ``crop_ratio``: the crop's width/height range; ``rotation``: one of
    :data:`ROTATIONS`; ``flip``: random horizontal and vertical flips; ``greyscale``: probability
    that a colour view loses its colour (every channel the mean of the channels), so that an
    encoder learns shapes it can still use on one-band surveys.
    """

    crop_scale: tuple = (0.7, 0.8)
    crop_ratio: tuple = (0.9, 1.1)
    rotation: str = "any"
    flip: bool = True
    greyscale: float = 0.0

    def __post_init__(self):
        crop_scale, crop_ratio = _pair(self.crop_scale, "crop_scale"), _pair(self.crop_ratio, "crop_ratio")
        object.__setattr__(self, "crop_scale", crop_scale)
        object.__setattr__(self, "crop_ratio", crop_ratio)
        object.__setattr__(self, "rotation", str(self.rotation))
        object.__setattr__(self, "flip", bool(self.flip))
        object.__setattr__(self, "greyscale", float(self.greyscale))
        if not 0.0 <= self.greyscale <= 1.0:
            raise RecipeError(f"greyscale must be a probability in [0, 1], got {self.greyscale}")
        if not 0.0 < crop_scale[0] <= crop_scale[1] <= 1.0:
            raise RecipeError(f"crop_scale must satisfy 0 < low <= high <= 1, got {self.crop_scale}")
        if not 0.0 < crop_ratio[0] <= crop_ratio[1]:
            raise RecipeError(f"crop_ratio must satisfy 0 < low <= high, got {self.crop_ratio}")
        if self.rotation not in ROTATIONS:
            raise RecipeError(f"rotation must be one of {ROTATIONS}, got {self.rotation!r}")

    @property
    def crops(self) -> bool:
        return self.crop_scale != (1.0, 1.0)

    def to_dict(self) -> dict:
        out = {"crop_scale": list(self.crop_scale), "crop_ratio": list(self.crop_ratio), "rotation": self.rotation,
               "flip": self.flip}
        return {**out, "greyscale": self.greyscale} if self.greyscale else out  # older readers: same dict as before

    @classmethod
    def from_dict(cls, data: dict) -> "Augmentation":
        return cls(**{k: data[k] for k in ("crop_scale", "crop_ratio", "rotation", "flip", "greyscale") if k in data})

    def describe(self) -> str:
        crop = (f"random crops of {self.crop_scale[0]:g}-{self.crop_scale[1]:g} of the area" if self.crops
                else "no crop")
        rotation = {"any": "any-angle rotation", "90": "90-degree rotations", "none": "no rotation"}[self.rotation]
        grey = f", greyscale views {self.greyscale:g} of the time" if self.greyscale else ""
        return f"{crop}, {rotation}, " + ("flips" if self.flip else "no flips") + grey


def default_stored_size(size: int, eval_crop: float) -> int:
    """The stored side whose centre crop of area ``eval_crop`` is ``size`` pixels across, so that the
    evaluation crop is (almost) not resampled at all."""
    return int(math.ceil(int(size) / math.sqrt(float(eval_crop)) - 1e-9))


#: the model input side of the full-size models (EfficientNet-B0, ConvNeXt at zoobot's 224 px)
DEFAULT_INPUT_SIZE = 224
#: shards are stored at the training resolution by default: 259 px, whose evaluation crop (0.75 of
#: the area) is the 224 px input. A 424 px Galaxy Zoo PNG stored whole costs 2.7x the pixels to
#: read and resample for the same model input (benchmarks/pipeline_throughput.py).
DEFAULT_STORED_SIZE = default_stored_size(DEFAULT_INPUT_SIZE, 0.75)


@dataclass(frozen=True)
class ImageRecipe:
    """How a model's input is made from a stored image (see the module docstring).

    Attributes
    ----------
    stored : StoredFormat
        How files are decoded and stored (what shards hold).
    size, channels : int
        The model's input side and channels.
    eval_crop : float
        Area fraction of the centred square kept at evaluation and prediction (1: the whole
        image), then resized to ``size``.
    augmentation : Augmentation
        The training views.
    """

    stored: StoredFormat
    size: int
    channels: int
    eval_crop: float = 0.75
    augmentation: Augmentation = field(default_factory=Augmentation)

    def __post_init__(self):
        object.__setattr__(self, "size", int(self.size))
        object.__setattr__(self, "channels", int(self.channels))
        object.__setattr__(self, "eval_crop", float(self.eval_crop))
        if self.size < 1 or self.channels < 1:
            raise RecipeError(f"model input size and channels must be positive, got {self.size} and {self.channels}")
        if not 0.0 < self.eval_crop <= 1.0:
            raise RecipeError(f"eval_crop must be in (0, 1], got {self.eval_crop}")
        have, want = self.stored.total_channels, self.channels
        if have != want and not (want == 1 or (have == 1 and want == 3)):
            raise RecipeError(
                f"the model takes {want} channels but images are stored with {have}: only the mean of all "
                "channels (-> 1) or a repeated single channel (1 -> 3) can convert them"
            )

    # --- construction ------------------------------------------------------------------------
    @classmethod
    def for_stored(cls, stored: StoredFormat, *, size=None, channels=None, eval_crop=None,
                   augmentation: Augmentation | None = None) -> "ImageRecipe":
        """A recipe for images stored as ``stored``: input ``size`` (default the stored size),
        ``channels`` (default the stored ones), ``eval_crop`` (default the middle of the training
        crop range)."""
        augmentation = augmentation or Augmentation()
        if eval_crop is None:
            eval_crop = sum(augmentation.crop_scale) / 2.0
        return cls(stored=stored, size=size or stored.size, channels=channels or stored.total_channels,
                   eval_crop=eval_crop, augmentation=augmentation)

    def with_changes(self, **changes) -> "ImageRecipe":
        """A copy with top-level fields replaced (``stored=`` / ``augmentation=`` take whole objects)."""
        return replace(self, **changes)

    # --- (de)serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"format": RECIPE_FORMAT, "stored": self.stored.to_dict(), "size": self.size,
                "channels": self.channels, "eval_crop": self.eval_crop,
                "augmentation": self.augmentation.to_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> "ImageRecipe":
        """Read :meth:`to_dict`'s output (RecipeError naming the problem for anything else)."""
        if not isinstance(data, dict) or "stored" not in data:
            raise RecipeError(f"not an image recipe: {data!r:.200}")
        version = int(data.get("format", 1))
        if version > RECIPE_FORMAT:
            raise RecipeError(f"image recipe format {version} is newer than this zoobot_tf reads "
                              f"({RECIPE_FORMAT}); upgrade zoobot_tf")
        try:
            return cls(stored=StoredFormat(**data["stored"]), size=data["size"], channels=data["channels"],
                       eval_crop=data.get("eval_crop", 0.75),
                       augmentation=Augmentation.from_dict(data.get("augmentation") or {}))
        except (TypeError, KeyError) as err:
            raise RecipeError(f"image recipe is incomplete or has unknown fields ({err})") from err

    @classmethod
    def from_legacy_config(cls, config: dict, input_shape=None) -> "ImageRecipe | None":
        """The recipe a run directory's ``config.json`` implies, for models saved before recipes
        travelled inside the model (None when the config does not say enough)."""
        options = config.get("image_options") or {}
        input_shape = list(config.get("input_shape") or input_shape or [])
        if not options or "crop_scale" not in options or len(input_shape) != 3:
            return None
        size, channels = int(input_shape[0]), int(input_shape[2])
        crop_scale = tuple(options["crop_scale"])
        augmentation = Augmentation(crop_scale=crop_scale, crop_ratio=tuple(options.get("crop_ratio") or (0.9, 1.1)))
        eval_crop = sum(crop_scale) / 2.0
        if options.get("stored_image_shape") is not None:  # trained from shards
            stored = StoredFormat.from_manifest(options.get("shard_image_options") or {},
                                                options.get("stored_dtype") or "uint8", options["stored_image_shape"])
        elif options.get("load_image_kwargs") is not None:  # fine-tuned from a catalog: loaded at the input size
            kwargs = options["load_image_kwargs"]
            scaling = kwargs.get("scaling")
            dtype = kwargs.get("dtype") or ("uint8" if scaling in (None, "none") else "float32")
            stored = StoredFormat(size=size, channels=channels, scaling=scaling, dtype=dtype,
                                  nan_mask=kwargs.get("nan_mask", False), galaxy_mask=kwargs.get("galaxy_mask", False))
        else:
            return None
        return cls(stored=stored, size=size, channels=channels, eval_crop=eval_crop, augmentation=augmentation)

    # --- use ---------------------------------------------------------------------------------
    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.size, self.size, self.channels)

    def check_stored(self, stored: StoredFormat, where: str, what: str = "the model") -> None:
        """Refuse data stored otherwise than this recipe says, naming both."""
        if stored != self.stored:
            raise RecipeError(f"{where} stores images as {stored.describe()} but {what} was trained on "
                              f"{self.stored.describe()}; write the shards with the model's recipe "
                              "(or read the catalog instead)")

    def describe(self) -> str:
        crop = "whole image" if self.eval_crop == 1.0 else f"centre crop of {self.eval_crop:g} of the area"
        return (f"stored {self.stored.describe()}; model input {self.size} px x {self.channels} channel(s); "
                f"evaluation: {crop}; training: {self.augmentation.describe()}")
