"""Mask R-CNN (He et al. 2017) in Keras 3: detect, deblend and classify sources in multi-band fields.

Composed from keras-cv 0.9 blocks where they work under Keras 3 -- ``ResNetBackbone`` /
``ResNetV2Backbone`` from explicit configs, ``FeaturePyramid``, ``AnchorGenerator``,
``ROIGenerator``, ``BoxMatcher``, ``compute_iou`` and ``MultiClassNonMaxSuppression`` -- plus what
it lacks or has broken: RoIAlign (:mod:`.roi_align`), the heads (:mod:`.heads`), target
matching and sampling (:mod:`.targets`) and the losses (:mod:`.losses`).

Training batches are dicts (``model.fit(dataset_of_dicts)``, no ``y``; the losses are computed
inside :meth:`MaskRCNN.train_step`)::

    images  [B, H, W, C] float32        H, W multiples of 32, static within a dataset
    boxes   [B, M, 4] float32           pixel (x0, y0, x1, y1), padded with -1
    classes [B, M] int32                1 galaxy, 2 star; padded with -1
    masks   [B, M, H, W] uint8 / bool   full-image instance masks, padded with 0

The model never scales images itself: ``scaling`` only records, for whoever runs inference
(``zoobot-tf detect``), which contrast scaling the training images went through.
"""

from __future__ import annotations

from dataclasses import asdict, replace

import keras
import keras_cv
import numpy as np
import tensorflow as tf

from zoobot_tf.detection.model.anchors import build_anchor_generator, multilevel_anchors
from zoobot_tf.detection.model.backbone import RPN_LEVELS, ROI_LEVELS, build_backbone, build_fpn, resolve_backbone
from zoobot_tf.detection.model.boxes import clip_boxes, decode_deltas
from zoobot_tf.detection.model.dihedral import dihedral_count, dihedral_image, fuse_dihedral, undo_dihedral
from zoobot_tf.detection.model.heads import build_box_head, build_mask_head, build_rpn_head
from zoobot_tf.detection.model.losses import mask_loss, rcnn_losses, rpn_losses
from zoobot_tf.detection.model.paste import paste_masks
from zoobot_tf.detection.model.roi_align import roi_align
from zoobot_tf.detection.model.rpn import build_roi_generator, generate_proposals, rpn_outputs
from zoobot_tf.detection.model.targets import NEGATIVE, POSITIVE, mask_targets, rcnn_targets, rpn_targets, sample_balanced
from zoobot_tf.detection.model.config import GROUPS, DetectionConfig, group_options
from zoobot_tf.detection.scalings import check_scaling

__all__ = ["LOSS_NAMES", "MaskRCNN", "build_mask_rcnn", "load_mask_rcnn"]

#: Names of the loss terms reported by ``fit`` (``loss`` is their sum).
LOSS_NAMES = ("rpn_class_loss", "rpn_box_loss", "rcnn_class_loss", "rcnn_box_loss", "mask_loss")
_RCNN_BOX_WEIGHTS = (10.0, 10.0, 5.0, 5.0)
_BOX_POOL, _MASK_POOL = 7, 14
#: Default score threshold of ``predict_scene(augment=True)`` (a mean over 8 views) for a model that
#: carries none of its own (``augmented_score_threshold``): where min(completeness, purity) at
#: S/N > 10 peaked on the detection benchmark's validation fields for two trained models (0.4 for
#: both; 0.25 and 0.3 for two others, which is why a model carries its own), never on its test fields.
AUGMENTED_SCORE_THRESHOLD = DetectionConfig.augmented_score_threshold
_MIN_SCORE = 1e-6  # NMS drops candidates below this (those under the caller's threshold are zeroed)
# The graph code has no tensor-dependent Python control flow; AutoGraph would only spend ~20 s per
# trace converting keras-cv's source, so the traced methods opt out of it.


@keras.saving.register_keras_serializable(package="zoobot_tf")
class MaskRCNN(keras.Model):
    """FPN Mask R-CNN for ``num_classes`` object classes (0 is background) on ``num_bands`` bands.

    Parameters
    ----------
    num_bands : int
        Input channels (any number of bands).
    num_classes : int
        Object classes, not counting background (2: galaxy = 1, star = 2).
    backbone : str or dict
        A name from :data:`~zoobot_tf.detection.model.backbone.BACKBONES` or a keras-cv ResNet config
        ``{"version", "filters", "blocks", "block_type"}``.
    image_size : (H, W) or None
        Fixed input size, or None for any size that is a multiple of 32.
    anchors, rpn, roi, heads, detection : config groups or dicts, optional
        :class:`~zoobot_tf.detection.model.config.AnchorConfig`, ``RPNConfig``, ``RoIConfig``,
        ``HeadConfig``, ``DetectionConfig`` (their docstrings give the defaults and why); a dict
        sets some fields of a group.
    scaling : str or None
        Name of the contrast scaling of the training images (metadata for inference).
    backbone_trainable : bool
        Initial trainable state of the backbone (see :meth:`set_backbone_trainable`).
    """

    def __init__(self, num_bands=3, num_classes=2, backbone="resnet18", image_size=None, anchors=None, rpn=None,
                 roi=None, heads=None, detection=None, scaling=None, backbone_trainable=True, **kwargs):
        kwargs.setdefault("name", "mask_rcnn")
        groups = group_options({"anchors": anchors, "rpn": rpn, "roi": roi, "heads": heads, "detection": detection})
        super().__init__(**kwargs)
        if int(num_bands) < 1 or int(num_classes) < 1:
            raise ValueError(f"num_bands and num_classes must be >= 1, got {num_bands}, {num_classes}")
        if image_size is not None:
            image_size = [int(s) for s in image_size]
            if len(image_size) != 2 or any(s < 32 or s % 32 for s in image_size):
                raise ValueError(f"image_size must be (H, W) multiples of 32, got {image_size}")
        self.anchors, self.rpn, self.roi = groups["anchors"], groups["rpn"], groups["roi"]
        self.heads, self.detection = groups["heads"], groups["detection"]
        if len(self.anchors.sizes) != len(RPN_LEVELS):
            raise ValueError(f"anchor sizes need one size per level P{RPN_LEVELS[0]}..P{RPN_LEVELS[-1]}, "
                             f"got {list(self.anchors.sizes)}")
        self.num_bands = int(num_bands)
        self.num_classes = int(num_classes)
        self.backbone_config = resolve_backbone(backbone)
        self.image_size = image_size
        # one registry of scaling names: a detector saved with 'raw' loads as 'none'
        self.scaling = None if scaling is None else check_scaling(scaling)

        self.backbone = build_backbone(self.backbone_config, self.num_bands, self.image_size)
        self.fpn = build_fpn(self.backbone, self.heads.fpn_channels)
        self.anchor_generator = build_anchor_generator(RPN_LEVELS, self.anchors.sizes, self.anchors.scales,
                                                       self.anchors.aspect_ratios)
        self.rpn_head = build_rpn_head(self.heads.fpn_channels, self.anchors.per_location)
        self.roi_generator = build_roi_generator(
            self.rpn.pre_nms_topk_train, self.rpn.post_nms_topk_train,
            self.rpn.pre_nms_topk_test, self.rpn.post_nms_topk_test, self.rpn.nms_iou,
        )
        self.box_head = build_box_head(self.heads.fpn_channels, self.num_classes, _BOX_POOL, self.heads.box_head_dim)
        self.mask_head = build_mask_head(self.heads.fpn_channels, self.num_classes, _MASK_POOL,
                                         self.heads.mask_head_channels, self.heads.mask_head_convs)
        self.loss_trackers = {name: keras.metrics.Mean(name=name) for name in ("loss",) + LOSS_NAMES}
        self._predict_fns = {}
        self.built = True
        self.set_backbone_trainable(backbone_trainable)

    @property
    def augmented_score_threshold(self) -> float:
        """The 8-view operating point of ``predict_scene(augment=True)`` (saved with the model)."""
        return self.detection.augmented_score_threshold

    @augmented_score_threshold.setter
    def augmented_score_threshold(self, value):
        self.detection = replace(self.detection, augmented_score_threshold=float(value))

    # ------------------------------------------------------------------ configuration
    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "num_bands": self.num_bands,
            "num_classes": self.num_classes,
            "backbone": dict(self.backbone_config),
            "image_size": self.image_size,
            **{group: asdict(getattr(self, group)) for group in GROUPS},
            "scaling": self.scaling,
            "backbone_trainable": self.backbone_trainable,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**group_options(config))  # detectors saved with flat hyperparameter names too

    def set_backbone_trainable(self, trainable):
        """Freeze (False) or unfreeze (True) the ResNet backbone; the FPN and heads stay trainable.

        The study's two-phase schedule trains the heads with the backbone frozen, then all.
        A frozen backbone also runs its BatchNorm in inference mode. Compile again afterwards
        (a new optimizer for the new set of trainable weights): the compiled train function is
        dropped here so a stale one cannot be reused.
        """
        self.backbone.trainable = bool(trainable)
        self.backbone_trainable = bool(trainable)
        self.train_function = None
        self.test_function = None
        self.predict_function = None

    def calibrate_batchnorm(self, batches):
        """Set the backbone's BatchNorm moving statistics to the mean batch statistics of ``batches``.

        Why: a frozen backbone runs BatchNorm with its moving statistics, which for a randomly
        initialised backbone are the initial 0 / 1 -- so the heads of phase 1 learn on
        un-normalised features, and unfreezing it (batch statistics) changes every feature at
        once and throws the heads off. Calibrating first makes both phases see the same features.
        Only the statistics change, no weights.

        Parameters
        ----------
        batches : iterable of image batches ``[B, H, W, C]`` (or training dicts with ``images``).

        Returns
        -------
        int, the number of batches used.
        """
        layers = [layer for layer in self.backbone.layers if isinstance(layer, keras.layers.BatchNormalization)]
        momenta = [layer.momentum for layer in layers]
        trainable = self.backbone.trainable
        self.backbone.trainable = True
        count = 0
        try:
            for batch in batches:
                images = batch["images"] if isinstance(batch, dict) else batch
                images, _, _ = self._check_images(images)
                for layer in layers:  # a running mean: moving = k/(k+1) moving + 1/(k+1) batch
                    layer.momentum = count / (count + 1.0)
                self.backbone(images, training=True)
                count += 1
        finally:
            for layer, momentum in zip(layers, momenta):
                layer.momentum = momentum
            self.backbone.trainable = trainable
        if count == 0:
            raise ValueError("calibrate_batchnorm got no batches")
        return count

    def compile(self, optimizer="adam", jit_compile=False, **kwargs):
        """``keras.Model.compile`` without losses (computed inside) and without XLA by default.

        XLA cannot compile the NMS and crop-and-resize ops, so ``jit_compile`` defaults to False.
        """
        if kwargs.get("loss") is not None:
            raise ValueError("MaskRCNN computes its own losses; compile it without `loss`")
        kwargs.pop("loss", None)
        super().compile(optimizer=optimizer, jit_compile=jit_compile, **kwargs)
        # building the optimizer here, not inside the first traced step, spares tf.function a
        # second trace of the whole training graph (it retraces when a trace creates variables)
        self.optimizer.build(self.trainable_variables)

    def get_compile_config(self):
        """The optimizer (the only compile argument), so a saved model can resume training."""
        if not self.compiled or getattr(self, "optimizer", None) is None:
            return None
        return {"optimizer": keras.saving.serialize_keras_object(self.optimizer)}

    def compile_from_config(self, config):
        if config and config.get("optimizer") is not None:
            self.compile(optimizer=keras.saving.deserialize_keras_object(config["optimizer"]))

    @property
    def metrics(self):
        return list(self.loss_trackers.values())

    # ------------------------------------------------------------------ shared pieces
    def _check_images(self, images):
        images = tf.convert_to_tensor(images)
        if images.shape.rank != 4:
            raise ValueError(f"images must be [batch, height, width, bands], got shape {images.shape}")
        height, width, bands = images.shape[1], images.shape[2], images.shape[3]
        if bands != self.num_bands:
            raise ValueError(f"model expects {self.num_bands} bands, got images with {bands}")
        if height is None or width is None:
            raise ValueError("the image height and width must be static (anchors are built from them)")
        if height % 32 or width % 32:
            raise ValueError(f"image height and width must be multiples of 32, got {height} x {width} "
                             "(predict_scene and scenes_to_dataset zero-pad images to one)")
        if self.image_size is not None and [height, width] != self.image_size:
            raise ValueError(f"model built for {self.image_size[0]} x {self.image_size[1]} images, "
                             f"got {height} x {width}")
        return tf.cast(images, tf.float32), int(height), int(width)

    def _features(self, images, training):
        c_levels = self.backbone(images, training=training)
        p_levels = self.fpn(c_levels, training=training)
        return dict(zip(RPN_LEVELS, p_levels))

    def _roi_features(self, features, boxes, size):
        return roi_align({level: features[level] for level in ROI_LEVELS}, boxes, size,
                         self.roi.canonical_size, self.roi.canonical_level)

    def _box_head(self, features, rois, training):
        pooled = self._roi_features(features, rois, _BOX_POOL)
        shape = tf.shape(rois)
        flat = tf.reshape(pooled, [-1, _BOX_POOL, _BOX_POOL, self.heads.fpn_channels])
        logits, deltas = self.box_head(flat, training=training)
        logits = tf.reshape(tf.cast(logits, tf.float32), tf.stack([shape[0], shape[1], self.num_classes + 1]))
        deltas = tf.reshape(tf.cast(deltas, tf.float32), tf.stack([shape[0], shape[1], self.num_classes + 1, 4]))
        return logits, deltas

    def _mask_head(self, features, boxes, training):
        pooled = self._roi_features(features, boxes, _MASK_POOL)
        shape = tf.shape(boxes)
        flat = tf.reshape(pooled, [-1, _MASK_POOL, _MASK_POOL, self.heads.fpn_channels])
        logits = tf.cast(self.mask_head(flat, training=training), tf.float32)
        size = 2 * _MASK_POOL
        return tf.reshape(logits, tf.stack([shape[0], shape[1], size, size, self.num_classes]))

    # ------------------------------------------------------------------ training
    @tf.autograph.experimental.do_not_convert
    def compute_detection_losses(self, batch, training=True):
        """All loss terms of one batch (a dict as in the module docstring), plus their sum ``loss``.

        ``training`` sets BatchNorm mode and the proposal counts; targets are sampled either way.
        """
        if not isinstance(batch, dict):
            raise TypeError("MaskRCNN trains on dict batches with keys images, boxes, classes, masks")
        missing = {"images", "boxes", "classes", "masks"} - set(batch)
        if missing:
            raise KeyError(f"training batch lacks {sorted(missing)}")
        images, height, width = self._check_images(batch["images"])
        gt_boxes = tf.cast(batch["boxes"], tf.float32)
        gt_classes = tf.cast(batch["classes"], tf.int32)
        if gt_boxes.shape.rank != 3 or gt_boxes.shape[1] is None or gt_boxes.shape[-1] != 4:
            raise ValueError(f"boxes must be [batch, max_objects, 4] with a static max_objects, got {gt_boxes.shape}")
        gt_valid = gt_classes > 0

        features = self._features(images, training)
        anchors = multilevel_anchors(self.anchor_generator, height, width)
        logits, deltas = rpn_outputs(self.rpn_head, features, RPN_LEVELS, training=training)

        # RPN: objectness and box deltas on sampled anchors
        all_anchors = tf.concat([anchors[level] for level in RPN_LEVELS], axis=0)
        all_logits = tf.concat([logits[level] for level in RPN_LEVELS], axis=1)
        all_deltas = tf.concat([deltas[level] for level in RPN_LEVELS], axis=1)
        targets = rpn_targets(all_anchors, gt_boxes, gt_valid, self.rpn.negative_iou, self.rpn.positive_iou)
        index, weights, positive = sample_balanced(
            tf.equal(targets["match_values"], POSITIVE), tf.equal(targets["match_values"], NEGATIVE),
            self.rpn.samples_per_image, self.rpn.positive_fraction,
        )
        rpn_class, rpn_box = rpn_losses(
            tf.gather(all_logits, index, batch_dims=1), positive, weights,
            tf.gather(all_deltas, index, batch_dims=1), tf.gather(targets["box_targets"], index, batch_dims=1),
        )

        # second stage on sampled proposals (+ ground truth)
        rois, roi_valid = generate_proposals(self.roi_generator, logits, deltas, anchors, height, width, True)
        sampled = rcnn_targets(
            rois, roi_valid, gt_boxes, gt_classes, gt_valid, self.roi.samples_per_image,
            self.roi.positive_fraction, self.roi.positive_iou, _RCNN_BOX_WEIGHTS,
        )
        class_logits, box_deltas = self._box_head(features, sampled["rois"], training)
        rcnn_class, rcnn_box = rcnn_losses(
            class_logits, box_deltas, sampled["class_targets"], sampled["box_targets"], sampled["weights"],
            sampled["is_positive"],
        )

        # masks on the positive slots only
        num_slots = min(int(self.roi.samples_per_image * self.roi.positive_fraction),
                        int(rois.shape[1]) + int(gt_boxes.shape[1]))
        positive_rois = sampled["rois"][:, :num_slots]
        mask_logits = self._mask_head(features, positive_rois, training)
        mask_true = mask_targets(batch["masks"], positive_rois, sampled["matched_columns"][:, :num_slots],
                                 2 * _MASK_POOL)
        masks = mask_loss(mask_logits, sampled["class_targets"][:, :num_slots], mask_true,
                          tf.cast(sampled["is_positive"][:, :num_slots], tf.float32))

        terms = dict(zip(LOSS_NAMES, (rpn_class, rpn_box, rcnn_class, rcnn_box, masks)))
        terms["loss"] = tf.add_n(list(terms.values()))
        return terms

    def _record(self, terms):
        for name, tracker in self.loss_trackers.items():
            tracker.update_state(terms[name])
        return {name: tracker.result() for name, tracker in self.loss_trackers.items()}

    @tf.autograph.experimental.do_not_convert
    def train_step(self, data):
        batch, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            terms = self.compute_detection_losses(batch, training=True)
            total = terms["loss"]
            if self.losses:
                total = total + tf.add_n(self.losses)
        variables = self.trainable_variables
        gradients = tape.gradient(total, variables)
        self.optimizer.apply_gradients(
            [(g, v) for g, v in zip(gradients, variables) if g is not None]
        )
        return self._record(terms)

    @tf.autograph.experimental.do_not_convert
    def test_step(self, data):
        batch, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self._record(self.compute_detection_losses(batch, training=False))

    # ------------------------------------------------------------------ inference
    @tf.autograph.experimental.do_not_convert
    def detect(self, images, score_threshold=None, max_detections=None, training=False):
        """Batched detections, padded to ``max_detections``.

        Returns
        -------
        dict: ``boxes`` [B, D, 4] pixel xyxy (padding -1), ``scores`` [B, D] (padding -1),
        ``classes`` [B, D] int32 (1..K, padding -1), ``num_detections`` [B] int32 and
        ``mask_probs`` [B, D, 28, 28] (mask of the detected class over its box).
        """
        if score_threshold is None:
            score_threshold = self.detection.score_threshold
        # a tensor threshold is applied by zeroing scores, so changing it never retraces a graph
        score_threshold = tf.cast(score_threshold, tf.float32)
        max_detections = self.detection.max_detections if max_detections is None else int(max_detections)
        images, height, width = self._check_images(images)
        features = self._features(images, training)
        anchors = multilevel_anchors(self.anchor_generator, height, width)
        logits, deltas = rpn_outputs(self.rpn_head, features, RPN_LEVELS, training=training)
        rois, roi_valid = generate_proposals(self.roi_generator, logits, deltas, anchors, height, width, False)

        class_logits, box_deltas = self._box_head(features, rois, training)
        probs = tf.nn.softmax(class_logits, axis=-1)[..., 1:] * tf.cast(roi_valid, tf.float32)[..., None]
        num_classes = self.num_classes
        boxes = decode_deltas(rois[:, :, None, :], box_deltas[:, :, 1:, :], _RCNN_BOX_WEIGHTS)
        boxes = clip_boxes(boxes, height, width)
        batch, num_rois = tf.shape(rois)[0], tf.shape(rois)[1]
        if self.detection.class_agnostic_nms:
            # one candidate per RoI: P(object) = 1 - P(background), its most probable class and
            # that class's box; one NMS over all classes
            det_classes, det_boxes, confidence, num = self._class_agnostic_nms(
                probs, boxes, score_threshold, max_detections)
        else:
            # one candidate per (RoI, class): its class-specific box, scored only for that class
            flat_boxes = tf.reshape(boxes, tf.stack([batch, num_rois * num_classes, 4]))
            flat_scores = tf.reshape(probs[..., None] * tf.eye(num_classes)[None, None],
                                     tf.stack([batch, num_rois * num_classes, num_classes]))
            flat_scores = tf.where(flat_scores >= score_threshold, flat_scores, 0.0)
            nms = keras_cv.layers.MultiClassNonMaxSuppression(
                bounding_box_format="xyxy", from_logits=False, iou_threshold=self.detection.iou,
                confidence_threshold=_MIN_SCORE, max_detections=max_detections,
                max_detections_per_class=max_detections,
            )
            detections = nms(flat_boxes, flat_scores)
            det_boxes = tf.cast(detections["boxes"], tf.float32)
            det_classes = tf.cast(detections["classes"], tf.int32)
            confidence = tf.cast(detections["confidence"], tf.float32)
            num = tf.cast(detections["num_detections"], tf.int32)
        valid = tf.range(tf.shape(det_boxes)[1])[None, :] < num[:, None]
        mask_logits = self._mask_head(features, tf.where(valid[..., None], det_boxes, 0.0), training)
        channel = tf.maximum(det_classes, 0)
        mask_logits = tf.gather(tf.transpose(mask_logits, [0, 1, 4, 2, 3]), channel, batch_dims=2)
        return {
            "boxes": tf.where(valid[..., None], det_boxes, -1.0),
            "scores": tf.where(valid, confidence, -1.0),
            "classes": tf.where(valid, det_classes + 1, -1),
            "num_detections": num,
            "mask_probs": tf.sigmoid(mask_logits),
        }

    def _class_agnostic_nms(self, probs, boxes, score_threshold, max_detections):
        """(classes 0..K-1, boxes, scores, count) after one NMS over RoIs scored by P(object)."""
        scores = tf.reduce_sum(probs, axis=-1)
        classes = tf.argmax(probs, axis=-1, output_type=tf.int32)
        boxes = tf.gather(boxes, classes, batch_dims=2)
        scores = tf.where(scores >= score_threshold, scores, 0.0)
        # IoU is the same whichever axis comes first, so xyxy boxes need no reordering
        index, num = tf.image.non_max_suppression_padded(
            boxes, scores, max_output_size=max_detections, iou_threshold=self.detection.iou,
            score_threshold=_MIN_SCORE, pad_to_max_output_size=True)
        return (tf.gather(classes, index, batch_dims=1), tf.gather(boxes, index, batch_dims=1),
                tf.gather(scores, index, batch_dims=1), tf.cast(num, tf.int32))

    def call(self, inputs, training=False):
        """Detections for a batch of images (or a training dict's ``images``); see :meth:`detect`."""
        images = inputs["images"] if isinstance(inputs, dict) else inputs
        return self.detect(images, training=training)

    def _predict_fn(self, max_detections):
        key = int(max_detections)
        if key not in self._predict_fns:
            self._predict_fns[key] = tf.function(
                lambda images, threshold: self.detect(images, threshold, key, training=False), autograph=False
            )
        return self._predict_fns[key]

    def predict_scene(self, image, score_threshold=None, max_detections=200, mask_threshold=0.5, augment=False):
        """Detect every source in one ``(H, W, C)`` image (already scaled like the training images).

        The image is zero-padded at the bottom/right to a multiple of 32 and detections are clipped
        back to it.

        Parameters
        ----------
        score_threshold : float, optional
            Minimum score of a detection: default 0.5, or the model's ``augmented_score_threshold``
            with ``augment``.
        augment : bool
            Test-time augmentation: run the image's 8 flips / 90-degree rotations (4 flips if not
            square) as one batch and merge the detections that agree
            (:func:`~zoobot_tf.detection.model.dihedral.fuse_dihedral`): a detection's score is
            then the mean of its 8 scores, 0 where a view missed it. 8x the compute; on the
            synthetic benchmark it finds more blended sources at higher purity.

        Returns
        -------
        dict: ``boxes`` (N, 4) float32 pixel ``(x0, y0, x1, y1)``, ``classes`` (N,) int
        (1 galaxy, 2 star), ``scores`` (N,) float32 (descending), ``masks`` (N, H, W) bool
        full-image masks pasted from the mask head's 28 x 28 output.
        """
        if score_threshold is None:
            score_threshold = self.augmented_score_threshold if augment else 0.5
        image = np.asarray(image, dtype=np.float32)
        if image.ndim == 2 and self.num_bands == 1:
            image = image[..., None]
        if image.ndim != 3 or image.shape[-1] != self.num_bands:
            raise ValueError(f"predict_scene needs an (H, W, {self.num_bands}) image, got shape {image.shape}")
        if not np.all(np.isfinite(image)):
            raise ValueError(f"image has {int(np.size(image) - np.isfinite(image).sum())} NaN/inf pixels; "
                             "fill or mask them before detection")
        if int(max_detections) < 1:
            raise ValueError(f"max_detections must be >= 1, got {max_detections}")
        if not 0.0 <= float(score_threshold) <= 1.0:
            raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold}")
        height, width = image.shape[:2]
        padded_h, padded_w = -(-height // 32) * 32, -(-width // 32) * 32
        if self.image_size is not None and [padded_h, padded_w] != self.image_size:
            raise ValueError(f"model built for {self.image_size} images, got {height} x {width}")
        padded = np.zeros((padded_h, padded_w, self.num_bands), dtype=np.float32)
        padded[:height, :width] = image
        if augment:
            views = range(dihedral_count(padded_h, padded_w))
            batch = np.stack([dihedral_image(padded, k) for k in views])
            # every view's weak detections too: a source some views score low is still found by the mean
            threshold = min(float(score_threshold), self.detection.score_threshold)
        else:
            views, batch, threshold = [0], padded[None], float(score_threshold)
        out = self._predict_fn(max_detections)(tf.constant(batch), tf.constant(threshold))
        found = []
        for i, k in enumerate(views):
            n = int(out["num_detections"][i])
            boxes, grids = undo_dihedral(out["boxes"][i, :n].numpy(), out["mask_probs"][i, :n].numpy(), k,
                                         padded_h, padded_w)
            found.append({"boxes": boxes, "grids": grids, "classes": out["classes"][i, :n].numpy(),
                          "scores": out["scores"][i, :n].numpy()})
        if augment:
            found = fuse_dihedral(found)
            keep = found["scores"] >= float(score_threshold)
            found = {key: value[keep][:max_detections] for key, value in found.items()}
        else:
            found = found[0]
        boxes = found["boxes"]
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
        return {
            "boxes": boxes.astype(np.float32),
            "classes": np.asarray(found["classes"]).astype(np.int64),
            "scores": np.asarray(found["scores"]).astype(np.float32),
            "masks": paste_masks(found["grids"], boxes, (height, width), mask_threshold),
        }


def build_mask_rcnn(num_bands=3, num_classes=2, backbone="resnet18", image_size=None, backbone_weights=None,
                    **options):
    """Build a :class:`MaskRCNN` (randomly initialised unless ``backbone_weights`` is given).

    Parameters
    ----------
    num_bands : int
        Image channels (e.g. 3 for HSC g, r, i).
    num_classes : int
        Object classes without background: 2 for galaxy (1) and star (2).
    backbone : str or dict
        ``"tiny"`` (tests), ``"resnet18"``, ``"resnet34"``, ``"resnet50"``, ``"resnet50_v2"`` or a
        keras-cv ResNet config dict (:func:`~zoobot_tf.detection.model.backbone.resolve_backbone`).
    image_size : (H, W) or None
        None accepts any image size that is a multiple of 32.
    backbone_weights : str or None
        A ``.weights.h5`` file saved from a backbone of the same configuration
        (``model.backbone.save_weights``), e.g. pretrained elsewhere.
    **options
        Any other :class:`MaskRCNN` argument: config groups (``rpn={"nms_iou": 0.6}``) or their
        fields by flat name (``rpn_nms_iou=0.6``, ``mask_head_channels=32``; see
        :func:`~zoobot_tf.detection.model.config.group_options`).
    """
    model = MaskRCNN(num_bands=num_bands, num_classes=num_classes, backbone=backbone, image_size=image_size,
                     **group_options(options))
    if backbone_weights is not None:
        try:
            model.backbone.load_weights(str(backbone_weights))
        except Exception as err:  # noqa: BLE001 -- re-raised with the file name
            raise ValueError(f"{backbone_weights}: cannot load into backbone {model.backbone_config}: {err}") from err
    return model


def load_mask_rcnn(path, compile=False):
    """Load a saved :class:`MaskRCNN` (``model.save("x.keras")``) with ``safe_mode=True``."""
    from pathlib import Path

    if not Path(path).is_file():
        raise FileNotFoundError(f"no saved detection model at {path}")
    from zoobot_tf.saving import load_model

    model = load_model(path, compile=compile)  # safe_mode=True; MaskRCNN is "zoobot_tf>MaskRCNN"
    if not isinstance(model, MaskRCNN):
        raise TypeError(f"{path} holds a {type(model).__name__}, not a MaskRCNN")
    return model
