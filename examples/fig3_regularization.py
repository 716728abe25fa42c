"""Fig. 3 of the paper: no prior, L1, L2 and leaky networks on an overcomplete basis
(see lava_causal/reproduction/fig3_regularization.py). ``--quick`` for seconds."""
import sys

from lava_causal.reproduction.common import main_for
from lava_causal.reproduction.fig3_regularization import run

if __name__ == "__main__":
    sys.exit(main_for(run, __doc__.splitlines()[0]))
