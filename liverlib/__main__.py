import sys

from liverlib.cli import main

sys.exit(main())
