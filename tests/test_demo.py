"""The demo runs end to end (tiny settings; `make demo` runs the full-size one)."""

import pytest

from zoobot_tf.demo import run_demo


@pytest.mark.slow
def test_demo_end_to_end_tiny(tmp_path, capsys):
    result = run_demo(tmp_path, n=60, size=32, image_size=32, epochs=1, batch_size=8, architecture="small_cnn",
                      n_samples=3, progress=False)
    printed = capsys.readouterr().out
    assert "baseline" in printed and "RMSE" in printed
    table = result["table"]
    assert {"rmse_truth", "baseline_rmse_truth", "rmse_volunteers"} <= set(table.columns)
    for name in ["augmented_batch.png", "predictions.hdf5", "summary.parquet", "summary.csv",
                 "evaluation/comparison.csv", "run/model.keras"]:
        assert (tmp_path / name).is_file(), name


@pytest.mark.slow
def test_demo_is_deterministic_for_a_seed(tmp_path, capsys):
    import pandas as pd

    kwargs = dict(n=60, size=32, image_size=32, epochs=2, batch_size=8, n_samples=3, progress=False, seed=3)
    first = run_demo(tmp_path / "a", **kwargs)["table"]
    second = run_demo(tmp_path / "b", **kwargs)["table"]
    pd.testing.assert_frame_equal(first, second)
