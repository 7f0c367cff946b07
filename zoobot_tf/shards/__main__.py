"""``python -m zoobot_tf.shards --catalog ... --out ...``"""

import sys

from zoobot_tf.shards.command import main

sys.exit(main())
