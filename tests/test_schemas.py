"""Decision trees checked against their published definitions and the real table columns."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from zoobot_tf.schemas import GZ2_HART16_COLUMNS, SCHEMA_NAMES, get_label_set, get_schema

DATA = Path(__file__).parent / "data" / "galaxy_zoo"


@pytest.mark.parametrize(
    "name, n_questions, n_answers",
    [
        ("decals_dr5", 10, 34),
        ("decals_dr8", 10, 34),
        ("decals_dr12", 10, 30),
        ("gz2", 11, 37),
        ("gz_kaggle37", 11, 37),
        ("gz_hubble", 13, 40),
        ("gz_candels", 11, 32),
    ],
)
def test_tree_sizes(name, n_questions, n_answers):
    schema = get_schema(name)
    assert (schema.n_questions, schema.n_answers) == (n_questions, n_answers)


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_index_groups_tile_the_labels(name):
    schema = get_schema(name)
    groups = schema.question_index_groups
    assert groups[0][0] == 0 and groups[-1][1] == schema.n_answers - 1
    for (_, end), (start, _) in zip(groups[:-1], groups[1:]):
        assert start == end + 1
    for question in schema.questions:
        assert schema.label_cols[question.start_index : question.end_index + 1] == question.label_cols


@pytest.mark.parametrize(
    "name, table",
    [("decals_dr5", "decals/gz_decals_volunteers_5.csv"), ("decals_dr12", "decals/gz_decals_volunteers_1_and_2.csv")],
)
def test_decals_label_cols_are_the_published_vote_columns(name, table):
    columns = pd.read_csv(DATA / table, nrows=0).columns
    vote_columns = {c[: -len("_fraction")] for c in columns if c.endswith("_fraction")}
    assert set(get_schema(name).label_cols) == vote_columns


def test_gz2_hart16_mapping_covers_the_published_table():
    columns = pd.read_csv(DATA / "gz2" / "gz2_hart16.csv", nrows=0).columns
    count_columns = {c[: -len("_count")] for c in columns if c.endswith("_count")}
    schema = get_schema("gz2")
    assert list(GZ2_HART16_COLUMNS) == schema.label_cols
    assert set(GZ2_HART16_COLUMNS.values()) == count_columns


def test_kaggle_dependency_weighting_reproduces_the_challenge_table():
    """Willett et al. 2013 Table 2: the challenge targets are conditional fractions times P(asked)."""
    table = pd.read_csv(DATA / "kaggle" / "training_solutions_rev1.csv")
    schema = get_schema("gz_kaggle37")
    assert schema.label_cols == list(table.columns[1:])
    weighted = table[schema.label_cols].to_numpy()
    rebuilt = schema.weight_by_dependencies(schema.conditional_fractions(weighted))
    np.testing.assert_allclose(rebuilt, weighted, atol=2e-5)


def test_joint_probability_asked_follows_the_tree():
    schema = get_schema("decals_dr5")
    fractions = np.zeros((1, schema.n_answers))
    set_ = lambda col, value: fractions.__setitem__((0, schema.get_answer(col).index), value)  # noqa: E731
    set_("smooth-or-featured_featured-or-disk", 0.8)
    set_("smooth-or-featured_smooth", 0.2)
    set_("disk-edge-on_no", 0.75)
    set_("has-spiral-arms_yes", 0.5)
    p = schema.joint_p_asked(fractions)[0]
    q = lambda text: schema.get_question(text).index  # noqa: E731
    assert p[q("smooth-or-featured")] == 1.0
    assert p[q("how-rounded")] == pytest.approx(0.2)
    assert p[q("bar")] == pytest.approx(0.8 * 0.75)
    assert p[q("spiral-winding")] == pytest.approx(0.8 * 0.75 * 0.5)
    assert p[q("merging")] == 1.0


def test_vote_fractions_handle_unasked_questions():
    schema = get_schema("decals_dr5")
    votes = np.zeros((1, schema.n_answers))
    votes[0, 0:3] = [30, 10, 0]
    fractions = schema.vote_fractions(votes)
    np.testing.assert_allclose(fractions[0, 0:3], [0.75, 0.25, 0.0])
    assert np.all(fractions[0, 3:] == 0)
    assert schema.votes_per_question(votes)[0, 0] == 40


def test_dr8_is_the_dr5_tree_renamed():
    dr5, dr8 = get_schema("decals_dr5"), get_schema("decals_dr8")
    assert [c.replace("-dr8", "") for c in dr8.label_cols] == dr5.label_cols
    assert dr8.get_question("bar-dr8").asked_after.text == "disk-edge-on-dr8_no"


def test_unknown_names_are_clear_errors():
    with pytest.raises(KeyError, match="decals_dr5"):
        get_schema("decals_dr99")
    with pytest.raises(KeyError, match="classes"):
        get_label_set("hubble_sequence").index("Sbc")


def test_flat_label_sets():
    assert get_label_set("hubble_sequence").classes == ("E", "S0", "Sab", "Sc", "Sdm", "Im")
    assert get_label_set("gz2_8class").n_classes == 8
    assert get_label_set("star_galaxy").index("star") == 1
