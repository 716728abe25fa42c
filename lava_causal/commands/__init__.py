"""Sub-commands of ``lava-causal``, one module per concern.

Each public module here defines ``register(subparsers)``, which adds its sub-commands
with ``set_defaults(func=...)``, and an integer ``ORDER`` that fixes where they appear
in ``--help``. :mod:`lava_causal.cli` discovers the modules, so adding a command means
adding a module, nothing else. Shared argument types and output helpers are in
:mod:`._common`.
"""
