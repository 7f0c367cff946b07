"""The latent morphology of each synthetic galaxy: the parameters images and votes are drawn from.

A Hubble type (E, S0, Sab, Sc, Sdm, Im) sets the *structural* parameters (bulge fraction,
Sersic index, spiral arms, bar, clumps, ...). The *observational* parameters (total flux,
size, position angle, centre offset, redshift-like dimming) are drawn independently of the
type, so no class can be told apart from the others by brightness or size alone: a classifier
has to look at structure, as it would on real survey images.

Sizes and offsets are fractions of the image width, so the same table renders at any size.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from zoobot_tf.schemas import get_label_set

HUBBLE_TYPES = get_label_set("hubble_sequence").classes
HUBBLE_PRIOR = (0.22, 0.14, 0.18, 0.20, 0.14, 0.12)
KINDS = ("galaxy", "star", "artifact")
ARTIFACT_TYPES = ("satellite_trail", "bad_columns", "saturated_star")
MERGER_STAGE_PRIOR = (0.70, 0.12, 0.10, 0.08)  # none, minor disturbance, major disturbance, merger

#: Structural parameter ranges per Hubble type, uniform between the bounds: bulge/total ``bt``,
#: bulge Sersic index ``n``, bulge r_e / disk r_e ``b_ratio``, P(spiral arms) and arm strength,
#: arm pitch angle (deg), P(bar), clumpiness, P(ring), intrinsic thickness ``q0``, P(dust lane).
TYPE_TABLE = {
    "E": dict(
        bt=(0.88, 1.0), n=(3.0, 5.5), b_ratio=(1.0, 1.0), p_arms=0.0, arms=(0.0, 0.0), pitch=(10, 14),
        p_bar=0.0, clump=(0.0, 0.03), p_ring=0.0, q0=(0.45, 0.95), p_dust=0.0,
    ),
    "S0": dict(
        bt=(0.42, 0.75), n=(2.0, 4.0), b_ratio=(0.3, 0.5), p_arms=0.0, arms=(0.0, 0.0), pitch=(10, 14),
        p_bar=0.35, clump=(0.0, 0.05), p_ring=0.25, q0=(0.12, 0.18), p_dust=0.1,
    ),
    "Sab": dict(
        bt=(0.22, 0.45), n=(1.5, 3.5), b_ratio=(0.25, 0.4), p_arms=0.95, arms=(0.5, 0.9), pitch=(7, 14),
        p_bar=0.4, clump=(0.0, 0.15), p_ring=0.15, q0=(0.1, 0.14), p_dust=0.6,
    ),
    "Sc": dict(
        bt=(0.06, 0.2), n=(1.0, 2.0), b_ratio=(0.2, 0.35), p_arms=0.97, arms=(0.6, 1.0), pitch=(15, 25),
        p_bar=0.35, clump=(0.05, 0.3), p_ring=0.05, q0=(0.08, 0.12), p_dust=0.6,
    ),
    "Sdm": dict(
        bt=(0.0, 0.05), n=(1.0, 1.5), b_ratio=(0.2, 0.3), p_arms=0.85, arms=(0.35, 0.75), pitch=(24, 38),
        p_bar=0.25, clump=(0.3, 0.6), p_ring=0.0, q0=(0.12, 0.18), p_dust=0.2,
    ),
    "Im": dict(
        bt=(0.0, 0.02), n=(1.0, 1.2), b_ratio=(0.2, 0.3), p_arms=0.0, arms=(0.0, 0.0), pitch=(30, 40),
        p_bar=0.05, clump=(0.6, 1.0), p_ring=0.0, q0=(0.3, 0.45), p_dust=0.0,
    ),
}
#: P(n_arms = 1, 2, 3, 4, 5, 6) for types with arms.
ARM_COUNT_PRIOR = {
    "Sab": (0.05, 0.75, 0.14, 0.06, 0.0, 0.0),
    "Sc": (0.05, 0.50, 0.25, 0.12, 0.05, 0.03),
    "Sdm": (0.12, 0.30, 0.25, 0.15, 0.10, 0.08),
}

#: Observational ranges, identical for every type.
FLUX_RANGE = (1.2e4, 8.0e4)  # apparent r-band flux before dimming, log-uniform (sky sigma = 1 at 96 px)
RADIUS_RANGE = (0.075, 0.13)  # half-light radius as a fraction of the image width
REDSHIFT_RANGE = (0.02, 0.15)
OFFSET_SIGMA = 0.015  # centre offset (fraction of image width), clipped at 3 sigma


def _type_prior(hubble_types) -> tuple:
    if hubble_types is None:
        return HUBBLE_PRIOR
    chosen = list(dict.fromkeys(str(t) for t in hubble_types))
    unknown = [t for t in chosen if t not in HUBBLE_TYPES]
    if unknown or not chosen:
        raise ValueError(f"hubble_types: unknown type(s) {unknown or chosen}; choose among {', '.join(HUBBLE_TYPES)}")
    return tuple(1.0 / len(chosen) if t in chosen else 0.0 for t in HUBBLE_TYPES)


def _uniform(rng, bounds, n):
    lo, hi = bounds
    return rng.uniform(lo, hi, n)


def sample_morphology(
    n: int, rng: np.random.Generator, *, p_star: float = 0.04, p_artifact: float = 0.05, hubble_types=None
) -> pd.DataFrame:
    """Draw the parameters of ``n`` synthetic galaxies.

    Parameters
    ----------
    n : int
        Number of galaxies.
    rng : numpy.random.Generator
        Source of randomness (the table is a deterministic function of its state).
    p_star, p_artifact : float
        Fractions of images that show a bright foreground star / an image artifact (a satellite
        trail, bad columns, a saturated star) over the galaxy. Both get 'artifact' votes.
    hubble_types : sequence of str, optional
        Draw only these types, equally often (default: all six with :data:`HUBBLE_PRIOR`); the
        same random stream either way, so the default table is unchanged.

    Returns
    -------
    pandas.DataFrame
        One row per galaxy. Structural columns: ``kind`` (galaxy/star/artifact),
        ``hubble_type``, ``bulge_fraction``, ``sersic_n``, ``bulge_radius_ratio``, ``boxiness``,
        ``inclination`` (deg, 0 face-on), ``thickness``, ``axis_ratio`` (apparent),
        ``edge_on``, ``bar_strength``, ``bar_length`` (in disk r_e), ``bar_angle`` (deg),
        ``n_arms``, ``arm_strength``, ``arm_pitch`` (deg; small = tightly wound),
        ``arm_phase`` (rad), ``ring_strength``, ``clumpiness``, ``n_clumps``, ``dust_lane``,
        ``merger_stage`` (0 none, 1 minor disturbance, 2 major disturbance, 3 merger),
        ``companion_flux_ratio``, ``companion_separation``, ``companion_angle``,
        ``tidal_strength``, ``artifact_type``, ``artifact_strength``, ``star_flux_ratio``,
        ``n_field_stars``. Observational columns, independent of the structure: ``flux``
        (apparent, after dimming), ``radius`` (half-light, fraction of image width),
        ``position_angle`` (deg), ``x_offset``, ``y_offset`` (fraction of width), ``redshift``.
    """
    n = int(n)
    if n < 0:
        raise ValueError(f"sample_morphology: n must be >= 0, got {n}")
    if not (0 <= p_star and 0 <= p_artifact and p_star + p_artifact <= 1):
        raise ValueError(
            f"sample_morphology: need 0 <= p_star, p_artifact and p_star + p_artifact <= 1; got {p_star}, {p_artifact}"
        )

    kind = rng.choice(np.array(KINDS), size=n, p=[1.0 - p_star - p_artifact, p_star, p_artifact])
    hubble_type = rng.choice(np.array(HUBBLE_TYPES), size=n, p=_type_prior(hubble_types))

    cols = {
        name: np.zeros(n)
        for name in (
            "bulge_fraction sersic_n bulge_radius_ratio thickness bar_strength bar_length arm_strength "
            "arm_pitch ring_strength clumpiness dust_lane"
        ).split()
    }
    n_arms = np.zeros(n, dtype=int)
    for t in HUBBLE_TYPES:
        idx = np.flatnonzero(hubble_type == t)
        m = len(idx)
        if m == 0:
            continue
        spec = TYPE_TABLE[t]
        cols["bulge_fraction"][idx] = _uniform(rng, spec["bt"], m)
        cols["sersic_n"][idx] = _uniform(rng, spec["n"], m)
        cols["bulge_radius_ratio"][idx] = _uniform(rng, spec["b_ratio"], m)
        cols["thickness"][idx] = _uniform(rng, spec["q0"], m)
        has_arms = rng.random(m) < spec["p_arms"]
        cols["arm_strength"][idx] = np.where(has_arms, _uniform(rng, spec["arms"], m), 0.0)
        cols["arm_pitch"][idx] = _uniform(rng, spec["pitch"], m)
        if t in ARM_COUNT_PRIOR:
            n_arms[idx] = np.where(has_arms, rng.choice(np.arange(1, 7), size=m, p=ARM_COUNT_PRIOR[t]), 0)
        has_bar = rng.random(m) < spec["p_bar"]
        cols["bar_strength"][idx] = np.where(has_bar, rng.uniform(0.2, 1.0, m), 0.0)
        cols["bar_length"][idx] = rng.uniform(0.8, 1.5, m)
        has_ring = rng.random(m) < spec["p_ring"]
        cols["ring_strength"][idx] = np.where(has_ring, rng.uniform(0.4, 1.0, m), 0.0)
        cols["clumpiness"][idx] = _uniform(rng, spec["clump"], m)
        has_dust = rng.random(m) < spec["p_dust"]
        cols["dust_lane"][idx] = np.where(has_dust, rng.uniform(0.3, 0.9, m), 0.0)

    # isotropic orientations: cos(i) uniform; apparent axis ratio of an oblate spheroid
    inclination = np.rad2deg(np.arccos(rng.uniform(0.0, 1.0, n)))
    cos_i = np.cos(np.deg2rad(inclination))
    q0 = cols["thickness"]
    axis_ratio = np.sqrt(cos_i**2 + q0**2 * (1.0 - cos_i**2))
    boxiness = rng.uniform(0.0, 1.0, n)
    clumpiness = cols["clumpiness"]
    n_clumps = np.clip(np.round(clumpiness * 8 + rng.normal(0, 1, n)), 1, 9)
    n_clumps = np.where(clumpiness > 0.15, n_clumps, 0).astype(int)

    merger_stage = rng.choice(4, size=n, p=MERGER_STAGE_PRIOR)
    ratio_lo = np.array([0.0, 0.08, 0.3, 0.4])[merger_stage]
    ratio_hi = np.array([0.0, 0.25, 0.8, 1.0])[merger_stage]
    sep_lo = np.array([0.0, 0.26, 0.2, 0.08])[merger_stage]
    sep_hi = np.array([0.0, 0.36, 0.3, 0.14])[merger_stage]
    tidal_lo = np.array([0.0, 0.1, 0.6, 0.5])[merger_stage]
    tidal_hi = np.array([0.0, 0.35, 1.0, 1.0])[merger_stage]
    u = rng.uniform(0.0, 1.0, (3, n))
    companion_flux_ratio = ratio_lo + (ratio_hi - ratio_lo) * u[0]
    companion_separation = sep_lo + (sep_hi - sep_lo) * u[1]
    tidal_strength = tidal_lo + (tidal_hi - tidal_lo) * u[2]
    companion_angle = rng.uniform(0.0, 360.0, n)

    # observational parameters: independent of everything above
    redshift = rng.uniform(*REDSHIFT_RANGE, n)
    intrinsic_flux = np.exp(rng.uniform(np.log(FLUX_RANGE[0]), np.log(FLUX_RANGE[1]), n))
    flux = intrinsic_flux * ((1.0 + REDSHIFT_RANGE[0]) / (1.0 + redshift)) ** 4
    radius = rng.uniform(*RADIUS_RANGE, n)
    position_angle = rng.uniform(0.0, 180.0, n)
    offsets = np.clip(rng.normal(0.0, OFFSET_SIGMA, (2, n)), -3 * OFFSET_SIGMA, 3 * OFFSET_SIGMA)

    artifact_type = np.where(kind == "artifact", rng.choice(np.array(ARTIFACT_TYPES), size=n), "none")
    artifact_strength = np.where(kind == "artifact", rng.uniform(0.5, 1.0, n), 0.0)
    star_flux_ratio = np.where(kind == "star", rng.uniform(1.5, 5.0, n), 0.0)
    # a foreground star sits on the image centre; the galaxy behind it is pushed aside
    star_push = rng.uniform(0.18, 0.3, n)
    star_push_angle = rng.uniform(0.0, 2 * np.pi, n)
    is_star = kind == "star"
    offsets[0] = np.where(is_star, star_push * np.cos(star_push_angle), offsets[0])
    offsets[1] = np.where(is_star, star_push * np.sin(star_push_angle), offsets[1])
    n_field_stars = rng.poisson(0.6, n)

    edge_on = (axis_ratio < 0.3) & (hubble_type != "E")  # a thin disk seen (nearly) edge-on
    return pd.DataFrame(
        {
            "kind": kind,
            "hubble_type": hubble_type,
            "bulge_fraction": cols["bulge_fraction"],
            "sersic_n": cols["sersic_n"],
            "bulge_radius_ratio": cols["bulge_radius_ratio"],
            "boxiness": boxiness,
            "inclination": inclination,
            "thickness": q0,
            "axis_ratio": axis_ratio,
            "edge_on": edge_on,
            "bar_strength": cols["bar_strength"],
            "bar_length": cols["bar_length"],
            "bar_angle": rng.uniform(0.0, 180.0, n),
            "n_arms": n_arms,
            "arm_strength": cols["arm_strength"],
            "arm_pitch": cols["arm_pitch"],
            "arm_phase": rng.uniform(0.0, 2 * np.pi, n),
            "ring_strength": cols["ring_strength"],
            "clumpiness": clumpiness,
            "n_clumps": n_clumps,
            "dust_lane": cols["dust_lane"],
            "merger_stage": merger_stage.astype(int),
            "companion_flux_ratio": companion_flux_ratio,
            "companion_separation": companion_separation,
            "companion_angle": companion_angle,
            "tidal_strength": tidal_strength,
            "artifact_type": artifact_type,
            "artifact_strength": artifact_strength,
            "star_flux_ratio": star_flux_ratio,
            "n_field_stars": n_field_stars.astype(int),
            "flux": flux,
            "radius": radius,
            "position_angle": position_angle,
            "x_offset": offsets[0],
            "y_offset": offsets[1],
            "redshift": redshift,
        }
    )
