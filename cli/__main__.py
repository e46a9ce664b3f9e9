import sys

from cli.onboarding import main

sys.exit(main())
