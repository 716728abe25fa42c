"""Fig. 2 of the paper: discrimination, mixture and approximation (see
lava_causal/reproduction/fig2_tasks.py). ``--quick`` for a seconds-long version."""
import sys

from lava_causal.reproduction.common import main_for
from lava_causal.reproduction.fig2_tasks import run

if __name__ == "__main__":
    sys.exit(main_for(run, __doc__.splitlines()[0]))
