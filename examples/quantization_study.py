"""The paper's tasks on Loihi 1, Loihi 2 and a hypothetical 16-bit-weight chip
(see lava_causal/reproduction/quantization_study.py). ``--quick`` for seconds."""
import sys

from lava_causal.reproduction.common import main_for
from lava_causal.reproduction.quantization_study import run

if __name__ == "__main__":
    sys.exit(main_for(run, __doc__.splitlines()[0]))
