import sys

from zoobot_tf.cli import main

sys.exit(main())
