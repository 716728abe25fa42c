"""Fig. 5 of the paper: external noise and trial/bin shuffling
(see lava_causal/reproduction/fig5_noise.py). ``--quick`` for seconds."""
import sys

from lava_causal.reproduction.common import main_for
from lava_causal.reproduction.fig5_noise import run

if __name__ == "__main__":
    sys.exit(main_for(run, __doc__.splitlines()[0]))
