"""`python -m fusionvae_core.data.tabletop`: see cli.py."""

import sys

from fusionvae_core.data.tabletop.cli import main

sys.exit(main())
