"""``similar`` and ``anomalies`` read the GZ DESI representations as published (``id_str``, ``ra``,
``dec``, ``feat_pca_*`` and other columns, parquet), without ``zoobot-tf embed``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from zoobot_tf.cli import main as cli_main
from zoobot_tf.discovery.common import load_features

N, K = 200, 10


@pytest.fixture()
def representations(tmp_path):
    """A GZ DESI-like representation parquet: a near twin of galaxy 0 and one far outlier."""
    rng = np.random.default_rng(0)
    features = rng.standard_normal((N, K)).astype(np.float32)
    features[1] = features[0] + 0.01
    features[2] = 25.0
    frame = pd.DataFrame({"id_str": [f"{1000 + i}_{i % 9}" for i in range(N)], "ra": rng.uniform(0, 360, N),
                          "dec": rng.uniform(-10, 30, N), "brickid": rng.integers(0, 10**6, N)})
    # columns as released: features after the positions, not in numeric order by name
    for i in rng.permutation(K):
        frame[f"feat_pca_{i}"] = features[:, i]
    path = tmp_path / "representations_pca_10.parquet"
    frame.to_parquet(path)
    return path, frame, features


def test_published_features_load_in_column_order(representations):
    path, frame, features = representations
    ids, got, pca = load_features(path)
    assert pca is None and list(ids) == frame["id_str"].tolist()
    np.testing.assert_array_equal(got, features)
    csv = path.with_suffix(".csv")
    frame.to_csv(csv, index=False)
    np.testing.assert_allclose(load_features(csv)[1], features, rtol=1e-6)


def test_similar_and_anomalies_run_on_the_published_parquet(representations, tmp_path):
    path, frame, _ = representations
    out = tmp_path / "similar.csv"
    assert cli_main(["similar", "--features", str(path), "--id", frame.loc[0, "id_str"], "--k", "3",
                     "--out", str(out)]) == 0
    neighbours = pd.read_csv(out, dtype={"id_str": str})
    assert frame.loc[1, "id_str"] in neighbours["id_str"].head(2).tolist()
    scores = tmp_path / "anomalies.csv"
    assert cli_main(["anomalies", "--features", str(path), "--out", str(scores)]) == 0
    assert pd.read_csv(scores, dtype={"id_str": str})["id_str"].iloc[0] == frame.loc[2, "id_str"]


def test_bad_published_tables_fail_in_one_line(representations, tmp_path, capsys):
    path, frame, _ = representations
    broken = tmp_path / "broken.parquet"
    frame.drop(columns=["feat_pca_3"]).to_parquet(broken)
    assert cli_main(["anomalies", "--features", str(broken), "--out", str(tmp_path / "a.csv")]) == 65
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "feat_pca_3 is missing" in err and str(broken) in err
    twice = tmp_path / "twice.parquet"
    pd.concat([frame, frame.head(1)]).to_parquet(twice)
    with pytest.raises(ValueError, match="duplicated id_str"):
        load_features(twice)
