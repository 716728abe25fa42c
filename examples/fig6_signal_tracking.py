"""Fig. 6 of the paper: the nLIF network finds weak causes that signal tracking misses
(see lava_causal/reproduction/fig6_signal_tracking.py). ``--quick`` for seconds."""
import sys

from lava_causal.reproduction.common import main_for
from lava_causal.reproduction.fig6_signal_tracking import run

if __name__ == "__main__":
    sys.exit(main_for(run, __doc__.splitlines()[0]))
