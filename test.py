"""Test a dpmambair restorer: `python test.py -opt options/test_gopro.yml` (the code lives in dpmambair/test.py)."""

from dpmambair.test import main

if __name__ == "__main__":
    main()
