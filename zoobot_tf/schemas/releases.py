"""The decision trees of zoobot 2.x's data products, as data: questions, answers, dependencies.

Facts carried over from the published releases and the column names of their catalogs
(galaxy-datasets' parquet catalogs and the Hugging Face datasets ``mwalmsley/gz_*``, which zoobot
trains on); the Python is ours. A campaign's questions carry its suffix in those catalogs
(``bar-dr5``, ``ring``, ``clumps-cd``, ``problem-euclid``...), so trees of several campaigns
(DECaLS all campaigns, GZ Evo) can share one model without mixing votes of different trees.

``gz_desi``              the GZ DESI catalogue (Walmsley et al. 2023): the GZD-5 tree, plain names;
                         the same tree and columns as ``decals_dr5`` (an alias of it).
``gz_rings``             GZ Rings: one question, ``ring`` yes / no.
``gz_cosmic_dawn``       GZ Cosmic Dawn (HSC, galaxy-datasets' ``gz_h2o``): the GZD-5 tree plus
                         clumps, and a problem branch (star / artifact / bad zoom, then the artifact
                         kind); ``-cd`` suffix, first answer renamed ``problem``.
``gz_ukidss``            GZ UKIDSS: the GZ2 tree (``-ukidss``).
``gz_jwst``              GZ JWST (CEERS): the Cosmic Dawn questions without the artifact kind, first
                         answer ``star-artifact-zoom`` (``-jwst``).
``gz_euclid``            GZ Euclid: the Cosmic Dawn tree, with ghosts among the artifacts (``-euclid``).
``decals_all_campaigns`` GZ DECaLS GZD-1/2 (``-dr12``), GZD-5 (``-dr5``) and DR8 (``-dr8``) in one model.
``gz_evo``               GZ Evo (zoobot's pretraining tree): DECaLS all campaigns, GZ2 (``-gz2``),
                         GZ CANDELS (``-candels``), GZ Hubble (``-hubble``) and Cosmic Dawn (``-cd``).

Dependencies follow each campaign's decision tree: bar, spiral arms and bulge size after "not
edge-on"; arm winding and count after "spiral arms yes"; the merger question (and GZ2's "anything
odd") at the end of every branch, so always asked. GZ JWST's clumps question is always asked, as
galaxy-datasets' GZ JWST metadata has it.
"""

from __future__ import annotations

__all__ = ["RELEASE_ALIASES", "RELEASE_TREES", "campaign_tree", "release_tree"]

#: release trees identical, columns and all, to a tree built in before them
RELEASE_ALIASES = {"gz_desi": "decals_dr5"}

_GZD5 = {
    "smooth-or-featured": ["_smooth", "_featured-or-disk", "_artifact"],
    "disk-edge-on": ["_yes", "_no"],
    "has-spiral-arms": ["_yes", "_no"],
    "bar": ["_strong", "_weak", "_no"],
    "bulge-size": ["_dominant", "_large", "_moderate", "_small", "_none"],
    "how-rounded": ["_round", "_in-between", "_cigar-shaped"],
    "edge-on-bulge": ["_boxy", "_none", "_rounded"],
    "spiral-winding": ["_tight", "_medium", "_loose"],
    "spiral-arm-count": ["_1", "_2", "_3", "_4", "_more-than-4", "_cant-tell"],
    "merging": ["_none", "_minor-disturbance", "_major-disturbance", "_merger"],
}
#: GZD-1/2 as galaxy-datasets orders it (bar yes/no, three bulge sizes, merging renamed)
_GZD12 = {
    "smooth-or-featured": ["_smooth", "_featured-or-disk", "_artifact"],
    "disk-edge-on": ["_yes", "_no"],
    "has-spiral-arms": ["_yes", "_no"],
    "bar": ["_yes", "_no"],
    "bulge-size": ["_dominant", "_obvious", "_none"],
    "how-rounded": ["_completely", "_in-between", "_cigar-shaped"],
    "edge-on-bulge": ["_boxy", "_none", "_rounded"],
    "spiral-winding": ["_tight", "_medium", "_loose"],
    "spiral-arm-count": ["_1", "_2", "_3", "_4", "_more-than-4"],
    "merging": ["_neither", "_tidal-debris", "_both", "_merger"],
}
#: (question, answer leading to it) in the DECaLS trees; None: always asked
_GZD_PARENTS = {
    "smooth-or-featured": None,
    "disk-edge-on": ("smooth-or-featured", "_featured-or-disk"),
    "has-spiral-arms": ("disk-edge-on", "_no"),
    "bar": ("disk-edge-on", "_no"),
    "bulge-size": ("disk-edge-on", "_no"),
    "how-rounded": ("smooth-or-featured", "_smooth"),
    "edge-on-bulge": ("disk-edge-on", "_yes"),
    "spiral-winding": ("has-spiral-arms", "_yes"),
    "spiral-arm-count": ("has-spiral-arms", "_yes"),
    "merging": None,
}

_RINGS = {"ring": ["_yes", "_no"]}

#: GZ Cosmic Dawn: GZD-5 with clumps and a problem branch; artifact -> problem
_COSMIC_DAWN = {
    "smooth-or-featured": ["_smooth", "_featured-or-disk", "_problem"],
    **{q: answers for q, answers in _GZD5.items() if q != "smooth-or-featured"},
    "clumps": ["_yes", "_no"],
    "problem": ["_star", "_artifact", "_zoom"],
    "artifact": ["_satellite", "_scattered", "_diffraction", "_ray", "_saturation", "_other"],
}
_COSMIC_DAWN_PARENTS = {
    **_GZD_PARENTS,
    "clumps": ("disk-edge-on", "_no"),
    "problem": ("smooth-or-featured", "_problem"),
    "artifact": ("problem", "_artifact"),
}
_EUCLID = {**_COSMIC_DAWN, "artifact": _COSMIC_DAWN["artifact"] + ["_ghost"]}

_JWST = {
    "smooth-or-featured": ["_smooth", "_featured-or-disk", "_star-artifact-zoom"],
    **{q: _COSMIC_DAWN[q] for q in ("disk-edge-on", "has-spiral-arms", "bar", "bulge-size", "how-rounded",
                                      "edge-on-bulge", "spiral-winding", "spiral-arm-count")},
    "clumps": ["_yes", "_no"],
    "merging": ["_none", "_minor-disturbance", "_major-disturbance", "_merger"],
    "problem": ["_star", "_artifact", "_bad-zoom"],
}
_JWST_PARENTS = {**_GZD_PARENTS, "clumps": None, "problem": ("smooth-or-featured", "_star-artifact-zoom")}

#: the GZ2 tree as the GZ2 / GZ UKIDSS catalogs of galaxy-datasets hold it (no odd-feature kind)
_GZ2 = {
    "smooth-or-featured": ["_smooth", "_featured-or-disk", "_artifact"],
    "disk-edge-on": ["_yes", "_no"],
    "has-spiral-arms": ["_yes", "_no"],
    "bar": ["_yes", "_no"],
    "bulge-size": ["_dominant", "_obvious", "_just-noticeable", "_no"],
    "something-odd": ["_yes", "_no"],
    "how-rounded": ["_round", "_in-between", "_cigar"],
    "bulge-shape": ["_round", "_boxy", "_no-bulge"],
    "spiral-winding": ["_tight", "_medium", "_loose"],
    "spiral-arm-count": ["_1", "_2", "_3", "_4", "_more-than-4", "_cant-tell"],
}
_GZ2_PARENTS = {
    "smooth-or-featured": None,
    "disk-edge-on": ("smooth-or-featured", "_featured-or-disk"),
    "has-spiral-arms": ("disk-edge-on", "_no"),
    "bar": ("disk-edge-on", "_no"),
    "bulge-size": ("disk-edge-on", "_no"),
    "something-odd": None,
    "how-rounded": ("smooth-or-featured", "_smooth"),
    "bulge-shape": ("disk-edge-on", "_yes"),
    "spiral-winding": ("has-spiral-arms", "_yes"),
    "spiral-arm-count": ("has-spiral-arms", "_yes"),
}

#: GZ Hubble as GZ Evo holds it (galaxy-datasets: no clump count)
_HUBBLE = {
    "smooth-or-featured": ["_smooth", "_features", "_artifact"],
    "how-rounded": ["_completely", "_in-between", "_cigar-shaped"],
    "clumpy-appearance": ["_yes", "_no"],
    "disk-edge-on": ["_yes", "_no"],
    "bulge-shape": ["_rounded", "_boxy", "_none"],
    "bar": ["_yes", "_no"],
    "has-spiral-arms": ["_yes", "_no"],
    "spiral-winding": ["_tight", "_medium", "_loose"],
    "spiral-arm-count": ["_1", "_2", "_3", "_4", "_5-plus", "_cant-tell"],
    "bulge-size": ["_none", "_just-noticeable", "_obvious", "_dominant"],
    "galaxy-symmetrical": ["_yes", "_no"],
    "clumps-embedded-larger-object": ["_yes", "_no"],
}
_HUBBLE_PARENTS = {
    "smooth-or-featured": None,
    "how-rounded": ("smooth-or-featured", "_smooth"),
    "clumpy-appearance": ("smooth-or-featured", "_features"),
    "disk-edge-on": ("clumpy-appearance", "_no"),
    "bulge-shape": ("disk-edge-on", "_yes"),
    "bar": ("disk-edge-on", "_no"),
    "has-spiral-arms": ("disk-edge-on", "_no"),
    "spiral-winding": ("has-spiral-arms", "_yes"),
    "spiral-arm-count": ("has-spiral-arms", "_yes"),
    "bulge-size": ("disk-edge-on", "_no"),
    "galaxy-symmetrical": ("clumpy-appearance", "_yes"),
    "clumps-embedded-larger-object": ("clumpy-appearance", "_yes"),
}

_CANDELS = {
    "smooth-or-featured": ["_smooth", "_features", "_artifact"],
    "how-rounded": ["_completely", "_in-between", "_cigar-shaped"],
    "clumpy-appearance": ["_yes", "_no"],
    "disk-edge-on": ["_yes", "_no"],
    "edge-on-bulge": ["_yes", "_no"],
    "bar": ["_yes", "_no"],
    "has-spiral-arms": ["_yes", "_no"],
    "spiral-winding": ["_tight", "_medium", "_loose"],
    "spiral-arm-count": ["_1", "_2", "_3", "_4", "_5-plus", "_cant-tell"],
    "bulge-size": ["_none", "_obvious", "_dominant"],
    "merging": ["_merger", "_tidal-debris", "_both", "_neither"],
}
_CANDELS_PARENTS = {
    "smooth-or-featured": None,
    "how-rounded": ("smooth-or-featured", "_smooth"),
    "clumpy-appearance": ("smooth-or-featured", "_features"),
    "disk-edge-on": ("clumpy-appearance", "_no"),
    "edge-on-bulge": ("disk-edge-on", "_yes"),
    "bar": ("disk-edge-on", "_no"),
    "has-spiral-arms": ("disk-edge-on", "_no"),
    "spiral-winding": ("has-spiral-arms", "_yes"),
    "spiral-arm-count": ("has-spiral-arms", "_yes"),
    "bulge-size": ("disk-edge-on", "_no"),
    "merging": None,
}


def _suffixed(pairs, parents, suffix):
    """``(question_answer_pairs, dependencies)`` with every question named ``question<suffix>``."""
    named_pairs = {f"{q}{suffix}": list(answers) for q, answers in pairs.items()}
    dependencies = {
        f"{q}{suffix}": None if parents[q] is None else f"{parents[q][0]}{suffix}{parents[q][1]}" for q in pairs
    }
    return named_pairs, dependencies


def _joined(*trees):
    pairs, dependencies = {}, {}
    for tree_pairs, tree_dependencies in trees:
        pairs.update(tree_pairs)
        dependencies.update(tree_dependencies)
    return pairs, dependencies


def _decals_all_campaigns():
    return _joined(_suffixed(_GZD12, _GZD_PARENTS, "-dr12"), _suffixed(_GZD5, _GZD_PARENTS, "-dr5"),
                   _suffixed(_GZD5, _GZD_PARENTS, "-dr8"))


#: name -> (description, builder of (question_answer_pairs, dependencies))
RELEASE_TREES = {
    "gz_desi": ("GZ DESI catalogue (GZD-5 tree)", lambda: _suffixed(_GZD5, _GZD_PARENTS, "")),
    "gz_rings": ("GZ Rings", lambda: _suffixed(_RINGS, {"ring": None}, "")),
    "gz_cosmic_dawn": ("GZ Cosmic Dawn (HSC)", lambda: _suffixed(_COSMIC_DAWN, _COSMIC_DAWN_PARENTS, "-cd")),
    "gz_ukidss": ("GZ UKIDSS (GZ2 tree)", lambda: _suffixed(_GZ2, _GZ2_PARENTS, "-ukidss")),
    "gz_jwst": ("GZ JWST (CEERS)", lambda: _suffixed(_JWST, _JWST_PARENTS, "-jwst")),
    "gz_euclid": ("GZ Euclid", lambda: _suffixed(_EUCLID, _COSMIC_DAWN_PARENTS, "-euclid")),
    "decals_all_campaigns": ("GZ DECaLS GZD-1/2, GZD-5 and DR8", _decals_all_campaigns),
    "gz_evo": (
        "GZ Evo: DECaLS all campaigns, GZ2, GZ CANDELS, GZ Hubble, GZ Cosmic Dawn",
        lambda: _joined(
            _decals_all_campaigns(),
            _suffixed(_GZ2, _GZ2_PARENTS, "-gz2"),
            _suffixed(_CANDELS, _CANDELS_PARENTS, "-candels"),
            _suffixed(_HUBBLE, _HUBBLE_PARENTS, "-hubble"),
            _suffixed(_COSMIC_DAWN, _COSMIC_DAWN_PARENTS, "-cd"),
        ),
    ),
}


def campaign_tree(name, suffix):
    """``(question_answer_pairs, dependencies)`` of one campaign's tree (``'gzd5'``, ``'candels'``) with ``suffix``."""
    pairs, parents = {"candels": (_CANDELS, _CANDELS_PARENTS), "gzd5": (_GZD5, _GZD_PARENTS)}[name]
    return _suffixed(pairs, parents, suffix)


def release_tree(name):
    """``(question_answer_pairs, dependencies, description)`` of the release tree ``name``."""
    description, build = RELEASE_TREES[name]
    pairs, dependencies = build()
    return pairs, dependencies, description
