"""The embedded default data set: synthetic galaxies with known morphology and known ideal votes.

Galaxies are rendered from known parameters (:func:`sample_morphology`, :func:`render_galaxy`)
and volunteer votes are drawn down a Galaxy Zoo decision tree from a Dirichlet-multinomial whose
expected fractions are a known function of those parameters (:func:`true_fractions`,
:func:`draw_votes`), so the best possible prediction is known. :func:`make_synthetic_dataset`
writes images + ``catalog.csv``; ``zoobot-tf synthetic`` does the same from a shell.
"""

from zoobot_tf.synthetic.dataset import DOMAIN_SHIFT, SPARSE_SHIFT, SurveyOptions, make_synthetic_dataset
from zoobot_tf.synthetic.fractions import SUPPORTED_SCHEMAS, true_fraction_columns, true_fractions
from zoobot_tf.synthetic.morphology import HUBBLE_TYPES, sample_morphology
from zoobot_tf.synthetic.render import FITS_BANDS, PNG_BANDS, add_noise, lupton_rgb, render_galaxy, render_scene
from zoobot_tf.synthetic.votes import draw_votes

__all__ = [
    "DOMAIN_SHIFT",
    "FITS_BANDS",
    "HUBBLE_TYPES",
    "PNG_BANDS",
    "SPARSE_SHIFT",
    "SUPPORTED_SCHEMAS",
    "SurveyOptions",
    "add_noise",
    "draw_votes",
    "lupton_rgb",
    "make_synthetic_dataset",
    "render_galaxy",
    "render_scene",
    "sample_morphology",
    "true_fraction_columns",
    "true_fractions",
]
