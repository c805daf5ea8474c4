import sys

from aidemed.cli.main import main

sys.exit(main())
