import sys

from harness.toxiproxy.cli import main

sys.exit(main())
