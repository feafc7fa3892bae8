"""Train a dpmambair model: `python train.py -opt options/allinone.yml` (the code lives in dpmambair/train.py)."""

from dpmambair.train import main

if __name__ == "__main__":
    main()
