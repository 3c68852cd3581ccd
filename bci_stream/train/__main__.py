"""``python -m bci_stream.train CONFIG.toml``: what ``torchrun`` starts in each process."""

import sys

from bci_stream.train.cli import main

sys.exit(main())
