"""Write a complete synthetic data set: images, a Galaxy Zoo style catalog, and the true answers.

The catalog has the same shape as a real one (``id_str``, ``file_loc``, one int vote column
per answer) so every downstream tool runs on it unchanged, plus what no real catalog has: the
expected vote fractions (``<label>_true_fraction``) and the morphology behind each image. A
model's error against the true fractions is then its real error, free of vote noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from zoobot_tf.synthetic import fits as fits_io
from zoobot_tf.synthetic.fractions import check_schema, true_fraction_columns, true_fractions
from zoobot_tf.synthetic.morphology import HUBBLE_TYPES, sample_morphology
from zoobot_tf.synthetic.render import (
    BAND_NOISE,
    FITS_BANDS,
    PNG_BANDS,
    check_bands,
    add_noise,
    asinh_grey,
    lupton_rgb,
    peak_grey,
    render_scene,
    rescale_pixels,
)
from zoobot_tf.synthetic.votes import draw_votes
from zoobot_tf.typed_options import options_from

#: a second "survey" unlike the default one, for domain-shift experiments (fine-tuning): one band
#: (greyscale), a PSF twice as broad at 64 px, 1.5x the sky noise, pixels 1.25x larger
DOMAIN_SHIFT = {"bands": ("i",), "noise": 1.5, "psf_fwhm": 2.0, "pixel_scale": 1.25}
#: a sparse survey like the small real one of issue 21 (radio-like cutouts): one band, 4 classes,
#: galaxies twice as large (reaching the frame's edge), a bright unresolved nucleus of 0.3-3x the
#: galaxy's flux (a high dynamic range), a linear stretch to the brightest pixel with the sky
#: below 3 sigma set to 0 (a dark background: mean pixel ~0.003 of the white level), no
#: foreground stars or artifacts over the galaxy
SPARSE_SHIFT = {"bands": ("i",), "noise": 1.0, "psf_fwhm": 2.0, "pixel_scale": 0.5,
                "hubble_types": ("E", "Sab", "Sc", "Im"), "nucleus": (0.3, 3.0), "stretch": "peak",
                "contaminants": False}
STRETCHES = ("asinh", "peak")
DEFAULT_N_VOLUNTEERS = 40
DEFAULT_CONCENTRATION = 25.0


def image_id(index: int) -> str:
    return f"synthetic_{index:06d}"


@dataclass(frozen=True)
class SurveyOptions:
    """How the galaxies are observed and stored: one "survey" (:data:`DOMAIN_SHIFT` and
    :data:`SPARSE_SHIFT` are two others, as keyword dicts). See :func:`make_synthetic_dataset`."""

    noise: float = 1.0
    psf_fwhm: float | None = None
    bands: tuple | None = None
    pixel_scale: float = 1.0
    hubble_types: tuple | None = None
    nucleus: tuple | None = None
    stretch: str = "asinh"
    clip_sigma: float = 3.0
    contaminants: bool = True


def make_synthetic_dataset(
    out_dir,
    n: int = 300,
    *,
    schema="decals_dr5",
    size: int = 96,
    fits: bool = False,
    seed: int = 0,
    progress: bool = True,
    n_volunteers: int = DEFAULT_N_VOLUNTEERS,
    concentration: float = DEFAULT_CONCENTRATION,
    survey: SurveyOptions | None = None,
    **survey_options,
) -> pd.DataFrame:
    """Render ``n`` synthetic galaxies with votes into ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Created if needed; gets ``images/``, ``catalog.csv`` and ``README.txt``.
    n : int
        Number of galaxies.
    schema : str or Schema
        Decision tree of the vote columns (see ``fractions.SUPPORTED_SCHEMAS``).
    size : int
        Image width = height in pixels.
    fits : bool
        False: RGB PNGs (g, r, z, asinh-scaled). True: 5-band (g, r, i, z, y) FITS cubes with
        NaN defects and an 'OBJMASK' extension; galaxies only (no star/artifact images), since
        this output feeds Hubble-type classification.
    seed : int
        Everything (table, votes, pixels) is a deterministic function of the seed.
    progress : bool
        Show a tqdm bar while rendering.
    n_volunteers, concentration : int, float
        Vote model, see :func:`draw_votes`.
    survey : SurveyOptions, optional
        The survey's options below as one object; keywords override its fields
        (``make_synthetic_dataset(out, **DOMAIN_SHIFT)``).

    Survey options (fields of :class:`SurveyOptions`)
    -------------------------------------------------
    noise, psf_fwhm : float
        r-band sky sigma per pixel, PSF FWHM in pixels (see :func:`render_scene`).
    bands : sequence of str, optional
        Bands to render (default g, r, z for PNG, g, r, i, z, y for FITS). A PNG takes g, r, z
        (colour, Lupton) or exactly one band (greyscale, same asinh scaling).
    pixel_scale : float
        Pixel size relative to the default survey: 2 renders the same galaxies half as many
        pixels across (:func:`~zoobot_tf.synthetic.render.rescale_pixels`). With ``bands``,
        ``noise`` and ``psf_fwhm`` this builds a second "survey" for domain-shift experiments.
    hubble_types : sequence of str, optional
        Draw only these Hubble types, equally often (default all six, with the usual prior).
    nucleus : (low, high), optional
        Add an unresolved nucleus whose flux is log-uniform in this range times the galaxy's
        (column ``nucleus_fraction``; drawn from its own stream: other columns are unchanged).
    stretch : {'asinh', 'peak'}
        Greyscale PNG stretch: the fixed asinh of colour images, or linear to each image's
        brightest pixel with the sky below ``clip_sigma`` sigma set to 0
        (:func:`~zoobot_tf.synthetic.render.peak_grey`, sparse radio-like cutouts).
    contaminants : bool
        False: no foreground star or artifact over the galaxy (``kind`` is always 'galaxy').

    Returns
    -------
    pandas.DataFrame
        The catalog as written to ``catalog.csv``: ``id_str``, ``file_loc`` (absolute path),
        vote columns, ``<label>_true_fraction`` columns, morphology parameters incl. ``hubble_type``,
        and ``label`` (= ``hubble_type``, for the ``hubble_sequence`` label set).
    """
    survey = options_from(SurveyOptions, survey, **survey_options)
    schema = check_schema(schema)
    n, size = int(n), int(size)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if size < 8:
        raise ValueError(f"size must be >= 8 pixels, got {size}")
    out_dir = Path(out_dir).expanduser().resolve()
    image_dir = out_dir / "images"
    image_dir.mkdir(parents=True, exist_ok=True)

    bands = check_bands(survey.bands if survey.bands is not None else (FITS_BANDS if fits else PNG_BANDS))
    if not fits and len(bands) != 1 and sorted(bands) != sorted(PNG_BANDS):
        raise ValueError(f"PNG images take bands g, r, z (colour) or exactly one band (greyscale), got {bands}")
    if survey.stretch not in STRETCHES or (survey.stretch != "asinh" and (fits or len(bands) != 1)):
        raise ValueError(f"stretch must be one of {STRETCHES} ('peak' for one-band PNGs only), got {survey.stretch!r}")
    params, fractions = _sample_galaxies(n, seed, schema, survey, fits)
    # independent streams so that e.g. changing the vote model leaves the images untouched
    votes = draw_votes(fractions, schema, np.random.default_rng([seed, 1]), n_volunteers=n_volunteers,
                       concentration=concentration)

    ids = [image_id(i) for i in range(n)]
    suffix = ".fits" if fits else ".png"
    paths = [image_dir / f"{i}{suffix}" for i in ids]
    mask_threshold = 1.5 * survey.noise * float(np.sqrt(sum(BAND_NOISE[b] ** 2 for b in bands)))
    for i in tqdm(range(n), disable=None if progress else True, desc="synthetic galaxies", unit="img"):
        row = params.iloc[i]
        rng = np.random.default_rng([seed, 2, i])
        scene = render_scene(row, size=size, bands=bands, rng=rng, psf_fwhm=survey.psf_fwhm)
        image = add_noise(scene.total, bands, rng, noise=survey.noise)
        if fits:
            header = {
                "OBJID": (ids[i], "id_str in catalog.csv"),
                "HUBTYPE": (str(row["hubble_type"]), "true Hubble type"),
                "SEED": (int(seed), "make_synthetic_dataset seed"),
                "SKYSIG": (float(survey.noise), "r-band sky sigma per pixel"),
            }
            fits_io.write_fits(paths[i], fits_io.add_nan_defects(image, rng),
                               fits_io.model_object_mask(scene.galaxy, mask_threshold), bands, header)
        else:
            Image.fromarray(_png_pixels(image, bands, survey)).save(paths[i], compress_level=3)

    catalog = pd.DataFrame({"id_str": ids, "file_loc": [str(p) for p in paths]})
    catalog = pd.concat(
        [
            catalog,
            pd.DataFrame(votes, columns=schema.label_cols),
            pd.DataFrame(fractions, columns=true_fraction_columns(schema)),
            params.reset_index(drop=True),
        ],
        axis=1,
    )
    # the flat-label column of a canonical classification catalog (hubble_sequence label set)
    catalog["label"] = catalog["hubble_type"]
    catalog.to_csv(out_dir / "catalog.csv", index=False)
    (out_dir / "README.txt").write_text(
        _readme(catalog, schema, n=n, size=size, fits=fits, seed=seed, bands=bands, n_volunteers=n_volunteers,
                concentration=concentration, survey=survey)
    )
    return catalog


def _sample_galaxies(n: int, seed: int, schema, survey: SurveyOptions, fits: bool):
    """The morphology table (pixels rescaled to the survey) and the true vote fractions."""
    extra = dict(p_star=0.0, p_artifact=0.0) if fits or not survey.contaminants else {}
    params = sample_morphology(n, np.random.default_rng([seed, 0]), hubble_types=survey.hubble_types, **extra)
    if survey.nucleus is not None:
        low, high = (float(v) for v in survey.nucleus)
        if not 0 < low <= high:
            raise ValueError(f"nucleus must be (low, high) with 0 < low <= high, got {survey.nucleus!r}")
        params["nucleus_fraction"] = np.exp(np.random.default_rng([seed, 3]).uniform(np.log(low), np.log(high), n))
    fractions = true_fractions(params, schema)
    if float(survey.pixel_scale) != 1.0:
        params = rescale_pixels(params, survey.pixel_scale)
    return params, fractions


def _png_pixels(image, bands, survey: SurveyOptions) -> np.ndarray:
    """uint8 PNG pixels of one noisy image: greyscale (peak or asinh stretch) or Lupton colour."""
    if len(bands) == 1 and survey.stretch == "peak":
        return peak_grey(image, sky_sigma=survey.noise * BAND_NOISE[bands[0]], clip_sigma=survey.clip_sigma)
    if len(bands) == 1:
        return asinh_grey(image, noise=survey.noise)
    return lupton_rgb(image, bands, noise=survey.noise)


def _counts(series) -> str:
    return ", ".join(f"{k}: {v}" for k, v in series.value_counts().sort_index().items())


def _readme(catalog, schema, *, n, size, fits, seed, bands, n_volunteers, concentration, survey: SurveyOptions) -> str:
    noise, psf_fwhm, pixel_scale, stretch = survey.noise, survey.psf_fwhm, survey.pixel_scale, survey.stretch
    plain = (survey.hubble_types is None and survey.nucleus is None and stretch == "asinh" and survey.contaminants)
    extra = "" if plain else (f", hubble_types={survey.hubble_types!r}, nucleus={survey.nucleus!r}, "
                              f"stretch={stretch!r}, clip_sigma={survey.clip_sigma}, contaminants={survey.contaminants}")
    hubble = catalog["hubble_type"].value_counts().reindex(HUBBLE_TYPES, fill_value=0)
    psf = f"{psf_fwhm} px" if psf_fwhm is not None else f"{max(1.0, 1.5 * size / 96):.2f} px (default: 1.5 px at 96 px)"
    image_text = (
        f"images/<id_str>.fits: primary HDU float32 cube ({len(bands)}, {size}, {size}), bands {','.join(bands)} "
        "(header BANDS), with NaN pixels (bad columns, satellite trails, masked stars; 1-2 per band);\n"
        "  extension 'OBJMASK': uint8 true footprint of the target galaxy (noiseless model > 1.5 sigma)."
        if fits
        else f"images/<id_str>.png: {size}x{size} RGB uint8, z/r/g -> R/G/B with astropy make_lupton_rgb (fixed asinh scaling)."
        if len(bands) > 1
        else f"images/<id_str>.png: {size}x{size} greyscale uint8, band {bands[0]}, "
        + ("linear to the brightest pixel, sky below the clip set to 0." if stretch == "peak" else "fixed asinh scaling.")
    )
    return f"""zoobot_tf synthetic galaxies
============================

Generated by zoobot_tf.synthetic.make_synthetic_dataset(n={n}, schema={schema.name!r}, size={size},
fits={fits}, seed={seed}, n_volunteers={n_volunteers}, concentration={concentration}, noise={noise},
bands={','.join(bands)!r}, pixel_scale={pixel_scale}{extra}).
Re-running with the same arguments reproduces every file byte for byte.

Files
-----
catalog.csv  one row per image:
  id_str, file_loc (absolute path)
  {schema.n_answers} vote-count columns of the '{schema.name}' tree ({schema.description})
  <label>_true_fraction: the expected within-question vote fraction (the ideal prediction)
  morphology parameters the image and votes were drawn from (see below)
{image_text}

Galaxies
--------
Hubble types ({', '.join(HUBBLE_TYPES)}): {', '.join(f'{k}: {v}' for k, v in hubble.items())}
Image kinds: {_counts(catalog['kind'])}
Merger stages (0 none, 1 minor disturbance, 2 major disturbance, 3 merger): {_counts(catalog['merger_stage'])}

The Hubble type sets the structure: bulge fraction and Sersic index, spiral arms (count, strength,
pitch angle), bars, rings, star-forming clumps, dust lanes. Observational parameters are drawn
independently of it: apparent flux ('flux', log-uniform, then (1+z)^-4 dimming by 'redshift'),
half-light radius ('radius', fraction of the image width), position angle, centre offset
('x_offset', 'y_offset'), inclination (isotropic). So brightness or size alone do not reveal the type.
Rendering: Sersic bulge + inclined exponential disk, logarithmic-spiral arms, Ferrers bar, Gaussian
ring and clumps, companion galaxies with tidal tails, foreground stars with diffraction spikes,
artifacts (satellite trails, bad columns, saturated stars); bulges red, disks/arms/clumps bluer;
Gaussian PSF FWHM {psf}; Gaussian sky noise sigma {noise} (r band) plus Poisson-like source noise.
'kind' = 'star': a bright foreground star covers the image centre (the galaxy is pushed aside);
'kind' = 'artifact': an artifact ('artifact_type') lies over the galaxy. Both mostly get 'artifact' votes.

Votes
-----
True fractions are a smooth function of the visible structure only (never of flux or size):
featured <- disk fraction, arm and bar strength, clumpiness, edge-on-ness, rings;
edge-on <- apparent axis ratio of disks; bar <- bar_strength; spiral arms, winding, arm count <- arm_strength,
arm_pitch, n_arms (fading as the disk turns edge-on); bulge size <- bulge_fraction;
roundness <- axis_ratio; merging <- merger_stage; artifact <- kind.
Each galaxy is classified by ~{n_volunteers} volunteers (uniform in [0.75, 1.25] x that). At each
question p ~ Dirichlet({concentration} x true fraction) and the volunteers who reached the question
(the root total, or the votes of its parent answer) split as Multinomial(total, p).
"""
