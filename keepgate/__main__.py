import sys

from keepgate.cli import main

sys.exit(main())
