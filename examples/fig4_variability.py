"""Fig. 4 of the paper: irregular spiking (CV_ISI), precise rates and 1/T convergence
in a low-rank network (see lava_causal/reproduction/fig4_variability.py)."""
import sys

from lava_causal.reproduction.common import main_for
from lava_causal.reproduction.fig4_variability import run

if __name__ == "__main__":
    sys.exit(main_for(run, __doc__.splitlines()[0]))
