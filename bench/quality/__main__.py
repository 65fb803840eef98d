"""`python -m bench.quality`: see `bench/quality/run.py`."""

from bench.quality.run import main

raise SystemExit(main())
