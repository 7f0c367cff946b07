"""The Mask R-CNN network, built from keras-cv blocks: backbone (:mod:`.backbone`), anchors,
region proposals (:mod:`.rpn`), RoIAlign, box / class / mask heads, training targets and losses,
box coding and mask pasting; :mod:`.mask_rcnn` assembles them into :class:`MaskRCNN`.

Everything here imports keras-cv (the ``[detection]`` extra); nothing outside
:mod:`zoobot_tf.detection` imports this package.
"""
