"""The decision-tree re-weighting layer of the Galaxy Zoo Kaggle model.

The Kaggle targets are *dependency-weighted* vote fractions: each question's answers sum to the
fraction of volunteers who reached the question (e.g. Class7.1 + 7.2 + 7.3 = Class1.1). A
network with 37 independent sigmoids can predict a child answer above its parent, which no
galaxy can have. This layer makes that impossible by construction: in topological order of the
tree, each question's sigmoid outputs are normalised to sum to 1 and multiplied by the
re-weighted value of the answer that leads to the question (1 for a question always asked).
The result equals ``schema.weight_by_dependencies(normalised outputs)``.
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["DecisionTreeReweighting"]


@keras.saving.register_keras_serializable(package="zoobot_tf")
class DecisionTreeReweighting(keras.layers.Layer):
    """``(batch, n_answers)`` non-negative scores -> dependency-weighted answer fractions.

    Parameters
    ----------
    question_index_groups : list of (int, int)
        Inclusive answer range of each question, in label order (``Schema.question_index_groups``).
    parent_answers : list of int or None
        Per question (same order), the label index of the answer that leads to it, or None.
    epsilon : float
        Floor of each question's sum before normalising (scores of 0 everywhere give 0, not NaN;
        any larger sum normalises exactly).

    Build one from a schema with :meth:`from_schema`.
    """

    def __init__(self, question_index_groups, parent_answers, epsilon=1e-12, **kwargs):
        super().__init__(**kwargs)
        self.question_index_groups = [(int(s), int(e)) for s, e in question_index_groups]
        self.parent_answers = [None if p is None else int(p) for p in parent_answers]
        self.epsilon = float(epsilon)
        if len(self.parent_answers) != len(self.question_index_groups):
            raise ValueError(f"{len(self.parent_answers)} parent answers for {len(self.question_index_groups)} questions")
        self.n_answers = max(e for _, e in self.question_index_groups) + 1
        covered = sorted(i for s, e in self.question_index_groups for i in range(s, e + 1))
        if covered != list(range(self.n_answers)):
            raise ValueError("question_index_groups must cover every answer exactly once")
        self._order = self._topological_order()

    @classmethod
    def from_schema(cls, schema, **kwargs):
        """The layer of a :class:`zoobot_tf.schemas.Schema` (or its name, e.g. ``'gz_kaggle37'``)."""
        from zoobot_tf.schemas import get_schema

        schema = get_schema(schema)
        parents = [None if q.asked_after is None else q.asked_after.index for q in schema.questions]
        return cls(schema.question_index_groups, parents, **kwargs)

    def _topological_order(self):
        question_of = {i: q for q, (s, e) in enumerate(self.question_index_groups) for i in range(s, e + 1)}
        depth = {}

        def depth_of(q, seen=()):
            if q in seen:
                raise ValueError(f"dependency cycle through question {q}")
            if q not in depth:
                parent = self.parent_answers[q]
                if parent is not None and parent not in question_of:
                    raise ValueError(f"question {q} depends on answer {parent}, outside the {self.n_answers} answers")
                depth[q] = 0 if parent is None else depth_of(question_of[parent], seen + (q,)) + 1
            return depth[q]

        return sorted(range(len(self.question_index_groups)), key=depth_of)

    def build(self, input_shape):
        if input_shape[-1] != self.n_answers:
            raise ValueError(f"{self.name} re-weights {self.n_answers} answers but gets {input_shape[-1]} inputs")
        self.built = True

    def call(self, inputs):
        weighted = [None] * self.n_answers
        for q in self._order:
            start, end = self.question_index_groups[q]
            block = inputs[:, start : end + 1]
            block = block / ops.maximum(ops.sum(block, axis=-1, keepdims=True), ops.cast(self.epsilon, block.dtype))
            parent = self.parent_answers[q]
            if parent is not None:
                block = block * weighted[parent]
            for i in range(end - start + 1):
                weighted[start + i] = block[:, i : i + 1]
        return ops.concatenate(weighted, axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "question_index_groups": [list(g) for g in self.question_index_groups],
            "parent_answers": self.parent_answers,
            "epsilon": self.epsilon,
        }
