"""``python -m zoobot_tf.synthetic --n 300 --out DIR``."""

import sys

from zoobot_tf.synthetic.command import main

sys.exit(main())
