"""The command line's shared behaviour: exit codes, native log filtering, logging levels."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from zoobot_tf import cli
from zoobot_tf.native_logs import hidden, is_native_log_line


@pytest.mark.parametrize("line", [
    b"I0000 00:00:1795704685.887988   15057 cudart_stub.cc:31] Could not find cuda drivers on your machine.\n",
    b"E0000 00:00:1795706915.409621   14718 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error\n",
    b"W1126 14:51:52.123456   15057 op_level_cost_estimator.cc:699] Error in PredictCost() for the op: "
    b"op: \"CropAndResize\"\n",
    b"2024-01-01 12:00:00.000000: W tensorflow/core/framework/op_kernel.cc:1828] OP_REQUIRES failed\n",
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
])
def test_native_log_lines_are_recognised(line):
    assert is_native_log_line(line)


@pytest.mark.parametrize("line", [
    b"zoobot-tf predict: error: catalog /tmp/x.csv does not exist\n",
    b"INFO zoobot_tf.training.trainer: resuming /runs/a from epoch 3\n",
    b"epoch 1/3: 100%|##########| 6/6 [00:01<00:00]\n",
    b"Traceback (most recent call last):\n",
    b"E   assert 1 == 2\n",
])
def test_other_lines_pass(line):
    assert not is_native_log_line(line)


def test_filter_drops_native_lines_and_keeps_the_rest(tmp_path):
    """A child process writes both kinds to file descriptor 2 (as TensorFlow's C++ code does)."""
    code = (
        "import os, sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from zoobot_tf.native_logs import hidden\n"
        "with hidden():\n"
        "    os.write(2, b'I0000 00:00:1795704685.887988   15057 cudart_stub.cc:31] noise\\n')\n"
        "    print('kept: python warning', file=sys.stderr, flush=True)\n"
        "    os.write(2, b'progress 50%\\r')\n"
        "    os.write(2, b'E0000 00:00:1.5   1 x.cc:1] more noise\\nkept: last line\\n')\n"
        "print('after the block', file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, os.fspath(cli.__file__).rsplit("/zoobot_tf/", 1)[0]],
                            capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr == b"kept: python warning\nprogress 50%\rkept: last line\nafter the block\n"


def test_filter_is_off_when_verbose():
    with hidden(enabled=False):
        pass  # nothing replaced: sys.stderr's descriptor is untouched
    assert os.environ.get("TF_CPP_MIN_LOG_LEVEL") is not None


def test_exit_codes_name_the_problem(tmp_path, capsys):
    assert cli.main(["summarise", "--predictions", str(tmp_path / "missing.hdf5"), "--out", str(tmp_path / "s")]) \
        == cli.EXIT_NO_INPUT
    assert "missing.hdf5" in capsys.readouterr().err
    (tmp_path / "bad.hdf5").write_text("not hdf5")
    assert cli.main(["summarise", "--predictions", str(tmp_path / "bad.hdf5"), "--out", str(tmp_path / "s")]) \
        == cli.EXIT_DATA_ERROR
    assert "bad.hdf5" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        cli.main(["summarise"])  # argparse: missing --predictions
    assert usage.value.code == 2 != cli.EXIT_DATA_ERROR


def test_an_internal_error_is_not_bad_input(tmp_path, capsys, monkeypatch):
    """A bug (here a ValueError from inside numpy, and a TypeError) exits 1, not 65, and -v prints its traceback."""
    import numpy as np

    from zoobot_tf.commands import summarise as summarise_command

    def numpy_fails(args):
        return np.zeros(3).reshape(2, 2)  # ValueError raised by numpy, not by the package on purpose

    monkeypatch.setattr(summarise_command, "run", numpy_fails)
    argv = ["summarise", "--predictions", str(tmp_path / "p.hdf5"), "--out", str(tmp_path / "s")]
    assert cli.main(argv) == cli.EXIT_INTERNAL == 1
    err = capsys.readouterr().err
    assert "internal error: ValueError: cannot reshape" in err and "rerun with -v" in err and "Traceback" not in err
    assert cli.main(["-v", *argv]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "numpy_fails" in err
    monkeypatch.setattr(summarise_command, "run", lambda args: None + 1)
    assert cli.main(argv) == 1 and "internal error: TypeError" in capsys.readouterr().err
    # bad input the package names on purpose keeps 65, and -v adds the traceback
    (tmp_path / "bad.hdf5").write_text("not hdf5")
    monkeypatch.undo()
    assert cli.main(["-v", "summarise", "--predictions", str(tmp_path / "bad.hdf5"), "--out", str(tmp_path / "s")]) \
        == cli.EXIT_DATA_ERROR
    assert "Traceback" in capsys.readouterr().err


def test_verbosity_sets_the_log_level():
    assert cli.configure_logging(0, 0) == logging.INFO
    assert cli.configure_logging(1, 0) == logging.DEBUG
    assert cli.configure_logging(0, 1) == logging.WARNING
    assert cli.configure_logging(0, 2) == logging.ERROR
    logging.getLogger().setLevel(logging.WARNING)


def test_log_messages_follow_a_swapped_stderr(monkeypatch):
    """A notebook or test harness replaces (and closes) sys.stderr after logging was configured:
    later messages go to the new stream instead of failing with 'I/O operation on closed file'."""
    import io

    first = io.StringIO()
    monkeypatch.setattr("sys.stderr", first)
    cli.configure_logging(0, 0)
    logging.getLogger("zoobot_tf.cli").info("to the first stream")
    first.close()
    second = io.StringIO()
    monkeypatch.setattr("sys.stderr", second)
    logging.getLogger("zoobot_tf.cli").info("resuming, 3 done")
    assert second.getvalue() == "INFO zoobot_tf.cli: resuming, 3 done\n"
    logging.getLogger().setLevel(logging.WARNING)
