"""Reference kernels, one op family per module; each module registers with ``REF.kernel``."""
