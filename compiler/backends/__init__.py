"""Backends that run compiled networks: the bit-exact emulator (:mod:`.emulator`) and
Lava (:mod:`.lava`, optional: needs the ``lava`` extra, on Python 3.10)."""
