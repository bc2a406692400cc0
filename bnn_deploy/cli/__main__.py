"""``python -m bnn_deploy.cli``."""

import sys

from bnn_deploy.cli import main

sys.exit(main())
