import sys

from kes.cli import main

sys.exit(main())
