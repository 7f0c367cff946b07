"""Galaxy Zoo decision trees and flat label sets.

A :class:`Schema` is a decision tree: questions, their answers (one label column each, named
``question_answer`` as in the Galaxy Zoo tables), and which answer leads to which question.
Losses use ``question_index_groups`` (inclusive answer ranges of each question); summaries use
:meth:`Schema.joint_p_asked` (the probability that a question is asked at all, given answer
fractions), because a vote fraction for a question nobody was asked means nothing.

Built-in trees, by name through :func:`get_schema`:

``decals_dr5``  GZ DECaLS GZD-5 workflow (Walmsley et al. 2022): 10 questions, 34 answers.
``decals_dr12`` GZ DECaLS GZD-1/2 workflow: 10 questions, 30 answers.
``decals_dr8``  the GZD-5 tree as used for DECaLS DR8 (GZ DESI); questions suffixed ``-dr8``.
``gz2``         Galaxy Zoo 2 (Willett et al. 2013; Hart et al. 2016): 11 tasks, 37 answers.
``gz_hubble``   GZ Hubble (Willett et al. 2017), the 13 questions Zoobot models.
``gz_candels``  GZ CANDELS (Simmons et al. 2017), the 11 questions Zoobot models.
``gz_kaggle37`` the 37 outputs Class1.1 ... Class11.6 of the Galaxy Zoo Kaggle challenge, whose
                targets are *dependency-weighted* fractions (Willett et al. 2013, Table 2).

and the trees of zoobot 2.x's data products (:mod:`zoobot_tf.schemas.releases`): ``gz_rings``,
``gz_cosmic_dawn``, ``gz_ukidss``, ``gz_jwst``, ``gz_euclid``, ``decals_all_campaigns`` and
``gz_evo``, named and suffixed as their catalogs' columns are; ``gz_desi`` (the GZ DESI
catalogue's tree) is another name of ``decals_dr5``, whose questions and columns it shares
(:data:`SCHEMA_ALIASES`).

Both kinds answer the same few questions (:class:`Task`): what the model outputs are called, which
head predicts them and which shard labels train them. Code that accepts "a schema or a label set"
resolves it once with :func:`get_schema_or_label_set` and then asks those questions, instead of
testing which of the two it holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from zoobot_tf.schemas.releases import RELEASE_ALIASES, RELEASE_TREES, campaign_tree, release_tree


@runtime_checkable
class Task(Protocol):
    """What a model is trained to predict: a decision tree (:class:`Schema`) or a label set (:class:`LabelSet`)."""

    name: str

    @property
    def outputs(self) -> list[str]:
        """Names of the model outputs, in order (label columns or class names)."""

    @property
    def n_outputs(self) -> int:
        """Number of model outputs."""

    @property
    def head(self) -> str:
        """The head that predicts them: ``'dirichlet'`` (vote counts) or ``'softmax'`` (one class)."""

    @property
    def shard_label_kinds(self) -> tuple[str, ...]:
        """Label kinds of shards this task trains on (``manifest.label_kind``)."""


@dataclass
class Answer:
    """One answer of a question; ``text`` is its label column."""

    text: str
    index: int
    question: "Question" = field(repr=False)
    next_questions: list["Question"] = field(default_factory=list, repr=False)

    @property
    def suffix(self) -> str:
        return self.text[len(self.question.text) + 1 :]


@dataclass
class Question:
    """One question; its answers occupy ``start_index..end_index`` (inclusive) of the labels."""

    text: str
    answers: list[Answer] = field(default_factory=list, repr=False)
    asked_after: Answer | None = field(default=None, repr=False)
    index: int = 0

    @property
    def start_index(self) -> int:
        return self.answers[0].index

    @property
    def end_index(self) -> int:
        return self.answers[-1].index

    @property
    def label_cols(self) -> list[str]:
        return [a.text for a in self.answers]


class Schema:
    """A Galaxy Zoo decision tree.

    Parameters
    ----------
    name : str
        Short name (stored in shard manifests and HDF5 attributes).
    question_answer_pairs : dict[str, list[str]]
        Question text -> answer suffixes (e.g. ``'_smooth'``); label column = question + suffix.
    dependencies : dict[str, str | None]
        Question text -> the label column of the answer that leads to it (None: always asked).
    value_kind : {'votes', 'weighted_fractions'}
        What the label columns of a catalog of this schema hold: vote counts (Galaxy Zoo
        tables) or dependency-weighted fractions (the Kaggle challenge).
    """

    def __init__(self, name, question_answer_pairs, dependencies, value_kind="votes", description=""):
        self.name = name
        self.description = description
        self.value_kind = value_kind
        self.question_answer_pairs = {q: list(a) for q, a in question_answer_pairs.items()}
        self.dependencies = dict(dependencies)
        missing = set(self.question_answer_pairs) ^ set(self.dependencies)
        if missing:
            raise ValueError(f"schema {name!r}: questions and dependencies disagree on {sorted(missing)}")

        self.questions: list[Question] = []
        self.answers: list[Answer] = []
        for q_index, (q_text, suffixes) in enumerate(self.question_answer_pairs.items()):
            question = Question(text=q_text, index=q_index)
            for suffix in suffixes:
                answer = Answer(text=q_text + suffix, index=len(self.answers), question=question)
                question.answers.append(answer)
                self.answers.append(answer)
            self.questions.append(question)
        self._answer_by_text = {a.text: a for a in self.answers}
        self._question_by_text = {q.text: q for q in self.questions}
        if len(self._answer_by_text) != len(self.answers):
            raise ValueError(f"schema {name!r}: duplicate label columns")

        for question in self.questions:
            parent = self.dependencies[question.text]
            if parent is None:
                continue
            if parent not in self._answer_by_text:
                raise ValueError(f"schema {name!r}: {question.text!r} depends on unknown answer {parent!r}")
            answer = self._answer_by_text[parent]
            question.asked_after = answer
            answer.next_questions.append(question)
        self._check_acyclic()

    def _check_acyclic(self):
        for question in self.questions:
            seen = {question.text}
            node = question.asked_after
            while node is not None:
                if node.question.text in seen:
                    raise ValueError(f"schema {self.name!r}: dependency cycle through {question.text!r}")
                seen.add(node.question.text)
                node = node.question.asked_after

    # --- lookups -------------------------------------------------------------------------
    @property
    def label_cols(self) -> list[str]:
        return [a.text for a in self.answers]

    @property
    def question_index_groups(self) -> list[tuple[int, int]]:
        """Inclusive (start, end) answer-index range of each question, in question order."""
        return [(q.start_index, q.end_index) for q in self.questions]

    # --- the Task protocol ---
    @property
    def outputs(self) -> list[str]:
        return self.label_cols

    @property
    def n_outputs(self) -> int:
        return self.n_answers

    head = "dirichlet"
    shard_label_kinds = ("votes", "weighted_fractions")

    @property
    def n_answers(self) -> int:
        return len(self.answers)

    @property
    def n_questions(self) -> int:
        return len(self.questions)

    def get_question(self, text: str) -> Question:
        try:
            return self._question_by_text[text]
        except KeyError:
            raise KeyError(f"schema {self.name!r} has no question {text!r}") from None

    def get_answer(self, text: str) -> Answer:
        try:
            return self._answer_by_text[text]
        except KeyError:
            raise KeyError(f"schema {self.name!r} has no answer {text!r}") from None

    def ancestors(self, question: Question) -> list[Answer]:
        """Answers that must all be given for ``question`` to be asked, nearest first."""
        chain, node = [], question.asked_after
        while node is not None:
            chain.append(node)
            node = node.question.asked_after
        return chain

    def topological_questions(self) -> list[Question]:
        """Questions ordered so that every parent comes before its children."""
        return sorted(self.questions, key=lambda q: len(self.ancestors(q)))

    # --- arithmetic on label arrays ------------------------------------------------------
    def votes_per_question(self, votes) -> np.ndarray:
        """(N, A) vote counts -> (N, Q) total votes of each question."""
        votes = np.asarray(votes, dtype=np.float64)
        return np.stack([votes[:, s : e + 1].sum(axis=1) for s, e in self.question_index_groups], axis=1)

    def vote_fractions(self, votes) -> np.ndarray:
        """(N, A) counts -> (N, A) fractions within each question (0 where nobody answered)."""
        votes = np.asarray(votes, dtype=np.float64)
        fractions = np.zeros_like(votes)
        for s, e in self.question_index_groups:
            total = votes[:, s : e + 1].sum(axis=1, keepdims=True)
            np.divide(votes[:, s : e + 1], total, out=fractions[:, s : e + 1], where=total > 0)
        return fractions

    def joint_p_asked(self, fractions) -> np.ndarray:
        """(N, A) within-question answer fractions -> (N, Q) probability each question is asked.

        The product of the fractions of the answers on the path from the root, as in Zoobot and
        Walmsley et al. 2022 ("a question is relevant only if it is likely to be asked").
        """
        fractions = np.asarray(fractions, dtype=np.float64)
        p = np.ones((fractions.shape[0], self.n_questions))
        for question in self.topological_questions():
            parent = question.asked_after
            if parent is not None:
                p[:, question.index] = p[:, parent.question.index] * fractions[:, parent.index]
        return p

    def weight_by_dependencies(self, fractions) -> np.ndarray:
        """Within-question fractions -> dependency-weighted fractions (the Kaggle targets)."""
        fractions = np.asarray(fractions, dtype=np.float64)
        p_asked = self.joint_p_asked(fractions)
        weights = np.stack([p_asked[:, a.question.index] for a in self.answers], axis=1)
        return fractions * weights

    def conditional_fractions(self, weighted) -> np.ndarray:
        """Inverse of :meth:`weight_by_dependencies`: each question's answers renormalised (the
        same arithmetic as :meth:`vote_fractions`)."""
        return self.vote_fractions(weighted)

    def __repr__(self):
        return f"Schema({self.name!r}, {self.n_questions} questions, {self.n_answers} answers)"


# ----------------------------------------------------------------------------------------
# Built-in trees
# ----------------------------------------------------------------------------------------

#: the GZD-5 tree (GZ DECaLS DR5, DR8 and the GZ DESI catalogue), :mod:`.releases`'s data. Merging is
#: asked at the end of every non-artifact branch; Zoobot treats it as always asked.
_DECALS_DR5_PAIRS, _DECALS_DEPENDENCIES = campaign_tree("gzd5", "")

_DECALS_DR12_PAIRS = {
    "smooth-or-featured": ["_smooth", "_featured-or-disk", "_artifact"],
    "disk-edge-on": ["_yes", "_no"],
    "has-spiral-arms": ["_yes", "_no"],
    "bar": ["_yes", "_no"],
    "bulge-size": ["_dominant", "_obvious", "_none"],
    "how-rounded": ["_completely", "_in-between", "_cigar-shaped"],
    "edge-on-bulge": ["_boxy", "_none", "_rounded"],
    "spiral-winding": ["_tight", "_medium", "_loose"],
    "spiral-arm-count": ["_1", "_2", "_3", "_4", "_more-than-4"],
    "merging": ["_both", "_merger", "_tidal-debris", "_neither"],
}


def _suffixed(pairs, dependencies, tag):
    """The same tree with every question renamed ``question-<tag>`` (Zoobot's convention)."""
    new_pairs = {f"{q}-{tag}": a for q, a in pairs.items()}
    new_deps = {}
    for q, parent in dependencies.items():
        if parent is None:
            new_deps[f"{q}-{tag}"] = None
        else:
            parent_q = next(pq for pq in pairs if parent.startswith(pq + "_"))
            new_deps[f"{q}-{tag}"] = f"{parent_q}-{tag}{parent[len(parent_q):]}"
    return new_pairs, new_deps


_GZ2_PAIRS = {
    "smooth-or-featured-gz2": ["_smooth", "_featured-or-disk", "_artifact"],
    "disk-edge-on-gz2": ["_yes", "_no"],
    "bar-gz2": ["_yes", "_no"],
    "has-spiral-arms-gz2": ["_yes", "_no"],
    "bulge-size-gz2": ["_no", "_just-noticeable", "_obvious", "_dominant"],
    "something-odd-gz2": ["_yes", "_no"],
    "how-rounded-gz2": ["_round", "_in-between", "_cigar"],
    "odd-feature-gz2": ["_ring", "_lens-or-arc", "_disturbed", "_irregular", "_other", "_merger", "_dust-lane"],
    "bulge-shape-gz2": ["_round", "_boxy", "_no-bulge"],
    "spiral-winding-gz2": ["_tight", "_medium", "_loose"],
    "spiral-arm-count-gz2": ["_1", "_2", "_3", "_4", "_more-than-4", "_cant-tell"],
}
_GZ2_DEPENDENCIES = {
    "smooth-or-featured-gz2": None,
    "disk-edge-on-gz2": "smooth-or-featured-gz2_featured-or-disk",
    "bar-gz2": "disk-edge-on-gz2_no",
    "has-spiral-arms-gz2": "disk-edge-on-gz2_no",
    "bulge-size-gz2": "disk-edge-on-gz2_no",
    # task 06 is reached from every galaxy branch (not star/artifact); treated as always asked
    "something-odd-gz2": None,
    "how-rounded-gz2": "smooth-or-featured-gz2_smooth",
    "odd-feature-gz2": "something-odd-gz2_yes",
    "bulge-shape-gz2": "disk-edge-on-gz2_yes",
    "spiral-winding-gz2": "has-spiral-arms-gz2_yes",
    "spiral-arm-count-gz2": "has-spiral-arms-gz2_yes",
}

#: Hart et al. 2016 column stem (before ``_count``) for every GZ2 label column, in schema order.
GZ2_HART16_COLUMNS = {
    "smooth-or-featured-gz2_smooth": "t01_smooth_or_features_a01_smooth",
    "smooth-or-featured-gz2_featured-or-disk": "t01_smooth_or_features_a02_features_or_disk",
    "smooth-or-featured-gz2_artifact": "t01_smooth_or_features_a03_star_or_artifact",
    "disk-edge-on-gz2_yes": "t02_edgeon_a04_yes",
    "disk-edge-on-gz2_no": "t02_edgeon_a05_no",
    "bar-gz2_yes": "t03_bar_a06_bar",
    "bar-gz2_no": "t03_bar_a07_no_bar",
    "has-spiral-arms-gz2_yes": "t04_spiral_a08_spiral",
    "has-spiral-arms-gz2_no": "t04_spiral_a09_no_spiral",
    "bulge-size-gz2_no": "t05_bulge_prominence_a10_no_bulge",
    "bulge-size-gz2_just-noticeable": "t05_bulge_prominence_a11_just_noticeable",
    "bulge-size-gz2_obvious": "t05_bulge_prominence_a12_obvious",
    "bulge-size-gz2_dominant": "t05_bulge_prominence_a13_dominant",
    "something-odd-gz2_yes": "t06_odd_a14_yes",
    "something-odd-gz2_no": "t06_odd_a15_no",
    "how-rounded-gz2_round": "t07_rounded_a16_completely_round",
    "how-rounded-gz2_in-between": "t07_rounded_a17_in_between",
    "how-rounded-gz2_cigar": "t07_rounded_a18_cigar_shaped",
    "odd-feature-gz2_ring": "t08_odd_feature_a19_ring",
    "odd-feature-gz2_lens-or-arc": "t08_odd_feature_a20_lens_or_arc",
    "odd-feature-gz2_disturbed": "t08_odd_feature_a21_disturbed",
    "odd-feature-gz2_irregular": "t08_odd_feature_a22_irregular",
    "odd-feature-gz2_other": "t08_odd_feature_a23_other",
    "odd-feature-gz2_merger": "t08_odd_feature_a24_merger",
    "odd-feature-gz2_dust-lane": "t08_odd_feature_a38_dust_lane",
    "bulge-shape-gz2_round": "t09_bulge_shape_a25_rounded",
    "bulge-shape-gz2_boxy": "t09_bulge_shape_a26_boxy",
    "bulge-shape-gz2_no-bulge": "t09_bulge_shape_a27_no_bulge",
    "spiral-winding-gz2_tight": "t10_arms_winding_a28_tight",
    "spiral-winding-gz2_medium": "t10_arms_winding_a29_medium",
    "spiral-winding-gz2_loose": "t10_arms_winding_a30_loose",
    "spiral-arm-count-gz2_1": "t11_arms_number_a31_1",
    "spiral-arm-count-gz2_2": "t11_arms_number_a32_2",
    "spiral-arm-count-gz2_3": "t11_arms_number_a33_3",
    "spiral-arm-count-gz2_4": "t11_arms_number_a34_4",
    "spiral-arm-count-gz2_more-than-4": "t11_arms_number_a36_more_than_4",
    "spiral-arm-count-gz2_cant-tell": "t11_arms_number_a37_cant_tell",
}

_HUBBLE_PAIRS = {
    "smooth-or-featured-hubble": ["_smooth", "_features", "_artifact"],
    "how-rounded-hubble": ["_completely", "_in-between", "_cigar-shaped"],
    "clumpy-appearance-hubble": ["_yes", "_no"],
    "clump-count-hubble": ["_1", "_2", "_3", "_4", "_5-plus", "_cant-tell"],
    "disk-edge-on-hubble": ["_yes", "_no"],
    "bulge-shape-hubble": ["_rounded", "_boxy", "_none"],
    "bar-hubble": ["_yes", "_no"],
    "has-spiral-arms-hubble": ["_yes", "_no"],
    "spiral-winding-hubble": ["_tight", "_medium", "_loose"],
    "spiral-arm-count-hubble": ["_1", "_2", "_3", "_4", "_5-plus", "_cant-tell"],
    "bulge-size-hubble": ["_none", "_just-noticeable", "_obvious", "_dominant"],
    "galaxy-symmetrical-hubble": ["_yes", "_no"],
    "clumps-embedded-larger-object-hubble": ["_yes", "_no"],
}
_HUBBLE_DEPENDENCIES = {
    "smooth-or-featured-hubble": None,
    "how-rounded-hubble": "smooth-or-featured-hubble_smooth",
    "clumpy-appearance-hubble": "smooth-or-featured-hubble_features",
    "clump-count-hubble": "clumpy-appearance-hubble_yes",
    "disk-edge-on-hubble": "clumpy-appearance-hubble_no",
    "bulge-shape-hubble": "disk-edge-on-hubble_yes",
    "bar-hubble": "disk-edge-on-hubble_no",
    "has-spiral-arms-hubble": "disk-edge-on-hubble_no",
    "spiral-winding-hubble": "has-spiral-arms-hubble_yes",
    "spiral-arm-count-hubble": "has-spiral-arms-hubble_yes",
    "bulge-size-hubble": "disk-edge-on-hubble_no",
    "galaxy-symmetrical-hubble": "clumpy-appearance-hubble_yes",
    "clumps-embedded-larger-object-hubble": "clumpy-appearance-hubble_yes",
}

#: GZ CANDELS (the 11 questions Zoobot models), as GZ Evo holds it too
_CANDELS_PAIRS, _CANDELS_DEPENDENCIES = campaign_tree("candels", "-candels")

# Kaggle: Class<question>.<answer>; label columns are exactly the challenge's column names.
_KAGGLE_ANSWER_COUNTS = {1: 3, 2: 2, 3: 2, 4: 2, 5: 4, 6: 2, 7: 3, 8: 7, 9: 3, 10: 3, 11: 6}
_KAGGLE_PAIRS = {f"Class{q}": [f".{a}" for a in range(1, n + 1)] for q, n in _KAGGLE_ANSWER_COUNTS.items()}
# Willett et al. 2013 Table 2 / the challenge's weighting: which answer each question's total equals.
_KAGGLE_DEPENDENCIES = {
    "Class1": None,  # smooth / features or disk / star or artifact
    "Class2": "Class1.2",  # edge-on?
    "Class3": "Class2.2",  # bar?
    "Class4": "Class2.2",  # spiral?
    "Class5": "Class2.2",  # bulge prominence
    "Class6": None,  # anything odd? (sums to 1 in the challenge table)
    "Class7": "Class1.1",  # how rounded
    "Class8": "Class6.1",  # odd feature
    "Class9": "Class2.1",  # bulge shape (edge-on)
    "Class10": "Class4.1",  # arm winding
    "Class11": "Class4.1",  # number of arms
}


def _build(name):
    if name == "decals_dr5":
        return Schema(name, _DECALS_DR5_PAIRS, _DECALS_DEPENDENCIES, description="GZ DECaLS GZD-5")
    if name == "decals_dr12":
        return Schema(name, _DECALS_DR12_PAIRS, _DECALS_DEPENDENCIES, description="GZ DECaLS GZD-1/2")
    if name == "decals_dr8":
        pairs, deps = _suffixed(_DECALS_DR5_PAIRS, _DECALS_DEPENDENCIES, "dr8")
        return Schema(name, pairs, deps, description="GZ DECaLS DR8 (GZD-5 tree)")
    if name == "gz2":
        return Schema(name, _GZ2_PAIRS, _GZ2_DEPENDENCIES, description="Galaxy Zoo 2")
    if name == "gz_hubble":
        return Schema(name, _HUBBLE_PAIRS, _HUBBLE_DEPENDENCIES, description="GZ Hubble")
    if name == "gz_candels":
        return Schema(name, _CANDELS_PAIRS, _CANDELS_DEPENDENCIES, description="GZ CANDELS")
    if name in RELEASE_TREES:
        pairs, deps, description = release_tree(name)
        return Schema(name, pairs, deps, description=description)
    if name == "gz_kaggle37":
        return Schema(
            name,
            _KAGGLE_PAIRS,
            _KAGGLE_DEPENDENCIES,
            value_kind="weighted_fractions",
            description="Galaxy Zoo Kaggle challenge, 37 dependency-weighted fractions",
        )
    raise KeyError(name)


SCHEMA_NAMES = ("decals_dr5", "decals_dr12", "decals_dr8", "gz2", "gz_hubble", "gz_candels", "gz_kaggle37",
                *(name for name in RELEASE_TREES if name not in RELEASE_ALIASES))
#: another release's name for a built-in tree with the very same label columns (one schema, two names)
SCHEMA_ALIASES = dict(RELEASE_ALIASES)


def get_schema(name: str | Schema) -> Schema:
    """A built-in decision tree by name (or pass a Schema through)."""
    if isinstance(name, Schema):
        return name
    name = SCHEMA_ALIASES.get(name, name)
    if name not in SCHEMA_NAMES:
        raise KeyError(f"unknown schema {name!r}; built in: {', '.join(SCHEMA_NAMES)} (and {', '.join(SCHEMA_ALIASES)})")
    return _build(name)


# ----------------------------------------------------------------------------------------
# Flat label sets (one class per galaxy) for classification
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelSet:
    """An ordered set of mutually exclusive classes; ``classes[i]`` is integer label i."""

    name: str
    classes: tuple[str, ...]
    description: str = ""

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    # --- the Task protocol ---
    @property
    def outputs(self) -> list[str]:
        return list(self.classes)

    @property
    def n_outputs(self) -> int:
        return self.n_classes

    head = "softmax"
    shard_label_kinds = ("class",)

    def index(self, class_name: str) -> int:
        try:
            return self.classes.index(class_name)
        except ValueError:
            raise KeyError(f"label set {self.name!r} has no class {class_name!r}; classes: {list(self.classes)}") from None


LABEL_SETS = {
    "hubble_sequence": LabelSet(
        "hubble_sequence", ("E", "S0", "Sab", "Sc", "Sdm", "Im"), "Hubble types of the DAT Pan-STARRS study"
    ),
    "gz2_8class": LabelSet(
        "gz2_8class",
        (
            "round",
            "in-between",
            "cigar-shaped",
            "edge-on",
            "barred-spiral",
            "unbarred-spiral",
            "irregular",
            "merger",
        ),
        "GZ2 eight classes of the Linformer study (round/in-between/cigar-shaped ellipticals, "
        "edge-on, barred spiral, unbarred spiral, irregular, merger)",
    ),
    "star_galaxy": LabelSet("star_galaxy", ("galaxy", "star"), "star/galaxy separation"),
}


def get_label_set(name: str | LabelSet) -> LabelSet:
    """A built-in flat label set by name."""
    if isinstance(name, LabelSet):
        return name
    try:
        return LABEL_SETS[name]
    except KeyError:
        raise KeyError(f"unknown label set {name!r}; built in: {', '.join(LABEL_SETS)}") from None


def get_schema_or_label_set(name: str | Schema | LabelSet) -> Schema | LabelSet:
    """A decision tree or a flat label set by name: what a shard directory or a head is labelled with."""
    if isinstance(name, (Schema, LabelSet)):
        return name
    if name in SCHEMA_NAMES or name in SCHEMA_ALIASES:
        return get_schema(name)
    if name in LABEL_SETS:
        return get_label_set(name)
    raise KeyError(
        f"unknown schema or label set {name!r}; schemas: {', '.join(SCHEMA_NAMES)}; "
        f"label sets: {', '.join(LABEL_SETS)}"
    )
