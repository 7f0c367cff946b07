"""One process of the two-worker training test (tests/test_multiworker.py), or its one-process
reference: a few SGD steps of a BatchNorm-free encoder + the package's Dirichlet head and loss on
a fixed global batch; writes the losses and final weights to ``argv[1]`` (.npz).

Run as ``python tests/multiworker_job.py OUT.npz multiworker`` with ``TF_CONFIG`` set, or
``... OUT.npz default`` for the reference.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["CUDA_VISIBLE_DEVICES"] = ""

GLOBAL_BATCH, STEPS, SIZE = 8, 3, 16


def main(out: str, strategy_name: str) -> None:
    from zoobot_tf.training.strategy import get_strategy

    strategy = get_strategy(strategy_name)  # before any other op, as MultiWorkerMirroredStrategy needs

    import keras
    import numpy as np
    import tensorflow as tf

    from zoobot_tf.losses import DirichletMultinomialLoss
    from zoobot_tf.models.get_model import assemble_model
    from zoobot_tf.models.heads import build_head
    from zoobot_tf.schemas import get_schema

    schema = get_schema("decals_dr5")
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (GLOBAL_BATCH * STEPS, SIZE, SIZE, 3)).astype("float32")
    votes = rng.integers(0, 20, (GLOBAL_BATCH * STEPS, schema.n_answers)).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices((images, votes)).batch(GLOBAL_BATCH, drop_remainder=True)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = dataset.with_options(options)

    keras.utils.set_random_seed(0)
    with strategy.scope():
        inputs = keras.Input((SIZE, SIZE, 3))
        features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(8, 3, activation="relu")(inputs))
        encoder = keras.Model(inputs, features, name="encoder")
        head = build_head("dirichlet", 8, schema.n_answers, dropout_rate=0.0)
        model = assemble_model(encoder, head)
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss=DirichletMultinomialLoss(schema), jit_compile=False)
    history = model.fit(dataset, epochs=STEPS, verbose=0, shuffle=False)
    weights = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    np.savez(out, loss=np.array(history.history["loss"]), replicas=strategy.num_replicas_in_sync, **weights)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
