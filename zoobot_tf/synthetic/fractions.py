"""The *true* vote fractions: a smooth, known function of the morphology parameters.

Each answer's expected fraction depends only on structure a volunteer can see in the image
(bulge fraction, arm and bar strength, inclination, clumps, companions, artifacts), never on
total flux or size, so the best possible prediction is known exactly and is learnable from
pixels. The same latent "concepts" (how featured, how edge-on, how barred, ...) are mapped onto
the answers of each supported Galaxy Zoo tree.

Fractions are *within-question* (each question's answers sum to 1), whether or not the
question would be asked; :meth:`Schema.joint_p_asked` turns them into the probability that
it is asked.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from zoobot_tf.schemas import Schema, get_schema

#: Columns of the morphology table the fractions depend on.
REQUIRED_PARAMS = (
    "kind",
    "bulge_fraction",
    "boxiness",
    "inclination",
    "axis_ratio",
    "bar_strength",
    "n_arms",
    "arm_strength",
    "arm_pitch",
    "ring_strength",
    "clumpiness",
    "n_clumps",
    "dust_lane",
    "merger_stage",
    "artifact_strength",
)
SUPPORTED_SCHEMAS = ("decals_dr5", "decals_dr12", "decals_dr8", "gz2", "gz_hubble", "gz_candels")
FLOOR = 0.02  # every answer keeps >= FLOOR / n_answers: volunteers always disagree a little


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def ordinal(x, cutpoints, softness) -> np.ndarray:
    """Ordered-logit class probabilities (N, len(cutpoints)+1), lowest class first."""
    x = np.asarray(x, dtype=np.float64)[:, None]
    above = sigmoid((x - np.asarray(cutpoints, dtype=np.float64)[None, :]) / softness)  # P(class > k)
    upper = np.concatenate([np.ones((len(x), 1)), above], axis=1)
    lower = np.concatenate([above, np.zeros((len(x), 1))], axis=1)
    return np.clip(upper - lower, 0.0, None)


def peaked(centre, n_classes: int, width: float) -> np.ndarray:
    """(N, n_classes) probabilities peaked at integer class ``centre`` (0-based) with Gaussian ``width``."""
    k = np.arange(n_classes)[None, :]
    w = np.exp(-0.5 * ((k - np.asarray(centre, dtype=np.float64)[:, None]) / width) ** 2)
    return w / w.sum(axis=1, keepdims=True)


def _stack(*cols) -> np.ndarray:
    return np.stack([np.broadcast_to(np.asarray(c, dtype=np.float64), np.shape(cols[0])) for c in cols], axis=1)


class Concepts:
    """What a volunteer perceives in one galaxy, as probabilities; computed once per table."""

    def __init__(self, params: pd.DataFrame):
        p = {c: params[c].to_numpy() for c in REQUIRED_PARAMS}
        kind = p["kind"].astype(str)
        bt = p["bulge_fraction"].astype(float)
        incl = p["inclination"].astype(float)
        self.n = len(bt)
        # features in the plane of the disk fade from view as the disk turns edge-on
        self.face_visibility = sigmoid((72.0 - incl) / 5.0)
        self.arm_visibility = p["arm_strength"].astype(float) * (p["n_arms"] > 0) * self.face_visibility
        self.bar_visibility = p["bar_strength"].astype(float) * self.face_visibility
        # edge-on = a thin elongated disk: apparent axis ratio, and only for disk galaxies
        self.edge_on = sigmoid((0.3 - p["axis_ratio"].astype(float)) / 0.04) * sigmoid((0.8 - bt) / 0.08)
        self.clumpy = sigmoid((p["clumpiness"].astype(float) - 0.45) / 0.1)
        self.ring = p["ring_strength"].astype(float) * self.face_visibility
        self.dust = p["dust_lane"].astype(float) * sigmoid((incl - 72.0) / 4.0)
        self.bulge_fraction = bt
        self.boxy = sigmoid((p["boxiness"].astype(float) - 0.5) / 0.1)
        self.axis_ratio = p["axis_ratio"].astype(float)
        self.pitch = p["arm_pitch"].astype(float)
        self.n_arms = p["n_arms"].astype(int)
        self.n_clumps = p["n_clumps"].astype(int)
        self.merger_stage = p["merger_stage"].astype(float)

        evidence = (
            2.5 * self.arm_visibility
            + 2.0 * self.bar_visibility
            + 2.0 * p["clumpiness"].astype(float)
            + 3.0 * self.edge_on
            + 1.0 * self.ring
            + 1.5 * (1.0 - bt)
        )
        self.featured = sigmoid(3.0 * (evidence - 1.0))
        art_strength = p["artifact_strength"].astype(float)
        self.artifact = np.select(
            [kind == "star", kind == "artifact"], [np.full(self.n, 0.85), 0.3 + 0.6 * art_strength], default=0.02
        )
        self.merger_p = sigmoid((self.merger_stage - 0.5) / 0.15)  # any interaction at all

    # --- answers shared by several trees (canonical answer order in the names) ----------------
    def smooth_featured_artifact(self):
        a = self.artifact
        return _stack((1 - a) * (1 - self.featured), (1 - a) * self.featured, a)

    def yes_no(self, p):
        return _stack(p, 1.0 - p)

    def spiral_yes(self):
        return sigmoid(8.0 * (self.arm_visibility - 0.25))

    def bar_strong_weak_no(self):
        strong = sigmoid((self.bar_visibility - 0.6) / 0.07)
        some = sigmoid((self.bar_visibility - 0.25) / 0.07)
        return _stack(strong, some - strong, 1.0 - some)

    def bulge_size(self, cutpoints):
        """Ordinal in bulge fraction; smallest bulge first."""
        return ordinal(self.bulge_fraction, cutpoints, 0.04)

    def roundness_round_between_cigar(self):
        return ordinal(self.axis_ratio, (0.45, 0.75), 0.05)[:, ::-1]

    def edge_on_bulge_boxy_none_rounded(self):
        none = sigmoid((0.1 - self.bulge_fraction) / 0.03)
        return _stack((1 - none) * self.boxy, none, (1 - none) * (1 - self.boxy))

    def winding_tight_medium_loose(self):
        return ordinal(self.pitch, (14.0, 24.0), 2.5)

    def arm_count_6(self):
        """1, 2, 3, 4, more than 4, can't tell."""
        cant = 0.05 + 0.6 * sigmoid((0.35 - self.arm_visibility) / 0.07)
        counts = peaked(np.clip(self.n_arms, 1, 5) - 1, 5, 0.45)
        return np.concatenate([counts * (1 - cant)[:, None], cant[:, None]], axis=1)

    def merging_none_minor_major_merger(self):
        return peaked(self.merger_stage, 4, 0.4)

    def merging_as(self, order):
        """Merging fractions re-expressed as {both, merger, tidal-debris, neither} in ``order``."""
        m = self.merging_none_minor_major_merger()
        # rows: none, minor, major, merger -> columns: both, merger, tidal-debris, neither
        mix = np.array([[0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.6, 0.4], [0.3, 0.1, 0.6, 0.0], [0.35, 0.65, 0.0, 0.0]])
        out = m @ mix
        names = ["both", "merger", "tidal-debris", "neither"]
        return out[:, [names.index(o) for o in order]]

    def odd(self):
        parts = [0.9 * self.merger_p, 0.8 * self.ring, 0.8 * self.clumpy, 0.7 * self.dust]
        none = np.prod([1.0 - q for q in parts], axis=0) * 0.95
        return 1.0 - none

    def odd_feature_gz2(self):
        """ring, lens-or-arc, disturbed, irregular, other, merger, dust-lane."""
        disturbed = self.merger_p * sigmoid((2.5 - self.merger_stage) / 0.2)
        merger = self.merger_p * sigmoid((self.merger_stage - 2.5) / 0.2)
        w = _stack(self.ring, np.full(self.n, 0.03), disturbed, self.clumpy, np.full(self.n, 0.05), merger, self.dust)
        return w / w.sum(axis=1, keepdims=True)

    def clump_count(self):
        """1, 2, 3, 4, 5+, can't tell."""
        cant = np.full(self.n, 0.1)
        counts = peaked(np.clip(self.n_clumps, 1, 5) - 1, 5, 0.6)
        return np.concatenate([counts * (1 - cant)[:, None], cant[:, None]], axis=1)

    def symmetrical(self):
        return 1.0 - np.maximum(0.85 * self.merger_p, 0.7 * self.clumpy)


def _arm_count_5(c: Concepts):
    counts = c.arm_count_6()[:, :5]
    return counts / counts.sum(axis=1, keepdims=True)


def _decals_dr5_map(c: Concepts):
    return {
        "smooth-or-featured": c.smooth_featured_artifact(),
        "disk-edge-on": c.yes_no(c.edge_on),
        "has-spiral-arms": c.yes_no(c.spiral_yes()),
        "bar": c.bar_strong_weak_no(),
        # dominant, large, moderate, small, none
        "bulge-size": c.bulge_size((0.04, 0.15, 0.35, 0.6))[:, ::-1],
        "how-rounded": c.roundness_round_between_cigar(),
        "edge-on-bulge": c.edge_on_bulge_boxy_none_rounded(),
        "spiral-winding": c.winding_tight_medium_loose(),
        "spiral-arm-count": c.arm_count_6(),
        "merging": c.merging_none_minor_major_merger(),
    }


def _decals_dr12_map(c: Concepts):
    bar = c.bar_strong_weak_no()
    return {
        "smooth-or-featured": c.smooth_featured_artifact(),
        "disk-edge-on": c.yes_no(c.edge_on),
        "has-spiral-arms": c.yes_no(c.spiral_yes()),
        "bar": _stack(bar[:, 0] + bar[:, 1], bar[:, 2]),
        "bulge-size": c.bulge_size((0.08, 0.5))[:, ::-1],  # dominant, obvious, none
        "how-rounded": c.roundness_round_between_cigar(),
        "edge-on-bulge": c.edge_on_bulge_boxy_none_rounded(),
        "spiral-winding": c.winding_tight_medium_loose(),
        "spiral-arm-count": _arm_count_5(c),
        "merging": c.merging_as(["both", "merger", "tidal-debris", "neither"]),
    }


def _gz2_map(c: Concepts):
    bar = c.bar_strong_weak_no()
    boxy, none, rounded = c.edge_on_bulge_boxy_none_rounded().T
    return {
        "smooth-or-featured-gz2": c.smooth_featured_artifact(),
        "disk-edge-on-gz2": c.yes_no(c.edge_on),
        "bar-gz2": _stack(bar[:, 0] + bar[:, 1], bar[:, 2]),
        "has-spiral-arms-gz2": c.yes_no(c.spiral_yes()),
        "bulge-size-gz2": c.bulge_size((0.05, 0.2, 0.55)),  # no, just-noticeable, obvious, dominant
        "something-odd-gz2": c.yes_no(c.odd()),
        "how-rounded-gz2": c.roundness_round_between_cigar(),
        "odd-feature-gz2": c.odd_feature_gz2(),
        "bulge-shape-gz2": _stack(rounded, boxy, none),
        "spiral-winding-gz2": c.winding_tight_medium_loose(),
        "spiral-arm-count-gz2": c.arm_count_6(),
    }


def _gz_hubble_map(c: Concepts):
    bar = c.bar_strong_weak_no()
    boxy, none, rounded = c.edge_on_bulge_boxy_none_rounded().T
    return {
        "smooth-or-featured-hubble": c.smooth_featured_artifact(),
        "how-rounded-hubble": c.roundness_round_between_cigar(),
        "clumpy-appearance-hubble": c.yes_no(c.clumpy),
        "clump-count-hubble": c.clump_count(),
        "disk-edge-on-hubble": c.yes_no(c.edge_on),
        "bulge-shape-hubble": _stack(rounded, boxy, none),
        "bar-hubble": _stack(bar[:, 0] + bar[:, 1], bar[:, 2]),
        "has-spiral-arms-hubble": c.yes_no(c.spiral_yes()),
        "spiral-winding-hubble": c.winding_tight_medium_loose(),
        "spiral-arm-count-hubble": c.arm_count_6(),
        "bulge-size-hubble": c.bulge_size((0.05, 0.2, 0.55)),
        "galaxy-symmetrical-hubble": c.yes_no(c.symmetrical()),
        "clumps-embedded-larger-object-hubble": c.yes_no(sigmoid((0.75 - c.clumpy) / 0.15)),
    }


def _gz_candels_map(c: Concepts):
    bar = c.bar_strong_weak_no()
    boxy, none, rounded = c.edge_on_bulge_boxy_none_rounded().T
    return {
        "smooth-or-featured-candels": c.smooth_featured_artifact(),
        "how-rounded-candels": c.roundness_round_between_cigar(),
        "clumpy-appearance-candels": c.yes_no(c.clumpy),
        "disk-edge-on-candels": c.yes_no(c.edge_on),
        "edge-on-bulge-candels": _stack(1.0 - none, none),
        "bar-candels": _stack(bar[:, 0] + bar[:, 1], bar[:, 2]),
        "has-spiral-arms-candels": c.yes_no(c.spiral_yes()),
        "spiral-winding-candels": c.winding_tight_medium_loose(),
        "spiral-arm-count-candels": c.arm_count_6(),
        "bulge-size-candels": c.bulge_size((0.08, 0.5)),  # none, obvious, dominant
        "merging-candels": c.merging_as(["merger", "tidal-debris", "both", "neither"]),
    }


def _decals_dr8_map(c: Concepts):
    return {f"{q}-dr8": f for q, f in _decals_dr5_map(c).items()}


_MAPS = {
    "decals_dr5": _decals_dr5_map,
    "decals_dr12": _decals_dr12_map,
    "decals_dr8": _decals_dr8_map,
    "gz2": _gz2_map,
    "gz_hubble": _gz_hubble_map,
    "gz_candels": _gz_candels_map,
}


def _as_frame(params) -> pd.DataFrame:
    if isinstance(params, pd.Series):
        params = params.to_frame().T
    params = pd.DataFrame(params)
    missing = [c for c in REQUIRED_PARAMS if c not in params.columns]
    if missing:
        raise KeyError(f"morphology table lacks column(s) {missing} needed for true fractions")
    numeric = [c for c in REQUIRED_PARAMS if c != "kind"]
    values = params[numeric].apply(pd.to_numeric, errors="coerce")
    bad = values.isna().any(axis=1)
    if bad.any():
        row = params.index[bad.to_numpy().argmax()]
        cols = [c for c in numeric if pd.isna(values.loc[row, c])]
        raise ValueError(f"morphology row {row!r}: non-numeric or missing {cols}")
    return params


def true_fractions(params, schema="decals_dr5") -> np.ndarray:
    """Expected within-question vote fractions of every answer of ``schema``.

    Parameters
    ----------
    params : pandas.DataFrame
        Morphology table from :func:`sample_morphology` (at least :data:`REQUIRED_PARAMS`).
    schema : str or Schema
        One of :data:`SUPPORTED_SCHEMAS` (the same morphology mapped onto each tree's answers).

    Returns
    -------
    numpy.ndarray
        (N, n_answers) float64; each question's answers sum to 1; every entry >= FLOOR / n_answers.
    """
    schema = check_schema(schema)
    params = _as_frame(params)
    by_question = _MAPS[schema.name](Concepts(params))
    expected = {q.text for q in schema.questions}
    if set(by_question) != expected:
        raise ValueError(
            f"schema {schema.name!r} does not match the built-in tree of that name: "
            f"unmapped questions {sorted(expected - set(by_question))}, unknown {sorted(set(by_question) - expected)}"
        )
    out = np.zeros((len(params), schema.n_answers))
    for question in schema.questions:
        frac = np.asarray(by_question[question.text], dtype=np.float64)
        k = len(question.answers)
        if frac.shape != (len(params), k):
            raise ValueError(f"schema {schema.name!r}: question {question.text!r} has {k} answers, mapping gave {frac.shape}")
        frac = frac / frac.sum(axis=1, keepdims=True)
        out[:, question.start_index : question.end_index + 1] = (1.0 - FLOOR) * frac + FLOOR / k
    return out


def true_fraction_columns(schema) -> list[str]:
    """Catalog column names of the true fractions: ``<label>_true_fraction``."""
    return [f"{c}_true_fraction" for c in get_schema(schema).label_cols]


def check_schema(schema) -> Schema:
    """The Schema, or a clear error if synthetic votes cannot be drawn for it."""
    schema = get_schema(schema)
    if schema.name not in _MAPS:
        hint = ""
        if schema.name == "gz_kaggle37":
            hint = " (its targets are dependency-weighted fractions: use 'gz2' and Schema.weight_by_dependencies)"
        raise ValueError(
            f"synthetic votes are not defined for schema {schema.name!r}{hint}; "
            f"supported: {', '.join(SUPPORTED_SCHEMAS)}"
        )
    return schema
