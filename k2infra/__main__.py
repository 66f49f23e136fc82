import sys

from k2infra.cli import main

sys.exit(main())
