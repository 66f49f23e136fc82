import sys

from k2infra.cli.main import main

sys.exit(main())
