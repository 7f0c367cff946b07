"""``manifest.json``: everything a reader needs to decode a shard directory.

The manifest is written last (atomically), so its presence is what marks a shard directory as
complete. It records the label columns and kind, the stored image shape and dtype, per-split file
lists and record counts, the split seed, a SHA-256 of the source catalog and the image options,
so a training run can state exactly which data it saw.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from zoobot_tf.atomic import atomic_write_text

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1
LABEL_KINDS = ("votes", "weighted_fractions", "class", None)
DTYPES = ("uint8", "float16", "float32")


class IncompleteShardsError(FileNotFoundError):
    """A shard directory without ``manifest.json``: its writer never finished."""


@dataclass
class SplitInfo:
    """Files and record counts of one split (``train``, ``val``, ``test`` or ``predict``)."""

    n_records: int
    files: list[str]
    records_per_file: list[int]


@dataclass
class Manifest:
    """Description of a shard directory (see module docstring).

    ``label_cols`` holds the schema's answer columns for ``'votes'``/``'weighted_fractions'``,
    the class names in index order for ``'class'``, and is empty for unlabelled shards.
    ``schema`` is the schema or label-set name (None when unlabelled).
    """

    label_kind: str | None
    label_cols: list[str]
    schema: str | None
    image_shape: list[int]
    dtype: str
    splits: dict[str, SplitInfo]
    seed: int
    catalog_sha256: str
    image_options: dict
    shard_options: dict
    package_version: str
    format_version: int = FORMAT_VERSION
    created: str = ""
    fingerprint: str = ""
    path: Path | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        if self.label_kind not in LABEL_KINDS:
            raise ValueError(f"label_kind must be one of {LABEL_KINDS}, got {self.label_kind!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        self.splits = {k: v if isinstance(v, SplitInfo) else SplitInfo(**v) for k, v in self.splits.items()}
        self.image_shape = [int(s) for s in self.image_shape]

    # --- convenience ---------------------------------------------------------------------
    @property
    def labelled(self) -> bool:
        return self.label_kind is not None

    @property
    def n_labels(self) -> int:
        """Answers per galaxy (votes/fractions), classes (class) or 0 (unlabelled)."""
        return len(self.label_cols)

    def stored_format(self):
        """How the records store their images (:class:`zoobot_tf.recipe.StoredFormat`)."""
        from zoobot_tf.recipe import StoredFormat

        return StoredFormat.from_manifest(self.image_options, self.dtype, self.image_shape)

    def split_names(self) -> list[str]:
        return list(self.splits)

    def n_records(self, split: str) -> int:
        return self._split(split).n_records

    def files(self, split: str) -> list[str]:
        """Absolute paths of the shard files of ``split`` (needs ``path``, set by load_manifest)."""
        if self.path is None:
            raise ValueError("manifest has no directory; load it with load_manifest(shard_dir)")
        return [str(self.path / split / name) for name in self._split(split).files]

    def _split(self, split: str) -> SplitInfo:
        try:
            return self.splits[split]
        except KeyError:
            where = f" in {self.path}" if self.path else ""
            raise KeyError(f"no split {split!r}{where}; splits: {list(self.splits)}") from None

    # --- (de)serialisation ---------------------------------------------------------------
    def to_dict(self) -> dict:
        out = asdict(self)
        out.pop("path")
        return out

    @classmethod
    def from_dict(cls, data: dict, path: str | os.PathLike | None = None) -> "Manifest":
        data = dict(data)
        version = data.get("format_version", FORMAT_VERSION)
        if version > FORMAT_VERSION:
            raise ValueError(f"manifest format {version} is newer than this zoobot_tf understands ({FORMAT_VERSION})")
        known = {f for f in cls.__dataclass_fields__ if f != "path"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"manifest has unknown fields {sorted(unknown)}")
        return cls(**data, path=Path(path) if path is not None else None)

    def save(self, shard_dir: str | os.PathLike) -> Path:
        """Write ``shard_dir/manifest.json`` atomically (temp file, fsync, rename)."""
        target = Path(shard_dir) / MANIFEST_NAME
        atomic_write_text(target, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        self.path = Path(shard_dir)
        return target


def load_manifest(shard_dir: str | os.PathLike) -> Manifest:
    """Read ``shard_dir/manifest.json``.

    Raises
    ------
    IncompleteShardsError
        If there is no manifest: the directory is missing or its writer never finished
        (rerun ``write_shards`` with the same arguments to resume).
    """
    shard_dir = Path(shard_dir)
    target = shard_dir / MANIFEST_NAME
    if not target.is_file():
        if not shard_dir.is_dir():
            raise IncompleteShardsError(f"shard directory {shard_dir} does not exist")
        raise IncompleteShardsError(
            f"{shard_dir} has no {MANIFEST_NAME}: the shard writer did not finish; "
            "rerun write_shards / `zoobot-tf make-shards` with the same arguments to resume"
        )
    try:
        data = json.loads(target.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{target} is not valid JSON: {err}") from err
    return Manifest.from_dict(data, path=shard_dir)
