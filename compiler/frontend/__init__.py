"""Front end: the float integrate-and-fire network the compiler takes as input
(:class:`~compiler.frontend.network.IFNetwork`), its rate model and its folded form, and
networks read from NIR graphs."""
