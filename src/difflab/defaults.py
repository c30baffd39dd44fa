"""Defaults the command line shows in its options before it loads the library: nothing here
imports torch or pandas, so `difflab --help` and a refused argument answer at once."""

# smc's particles per row: K = 16 left a visible 1/K bias on a trained ring (0.30 for 0.19)
PARTICLES = 32
SMC_LEVELS = 100  # smc's σ levels (Euler kernel): 100 NFE per particle
# tables: the field separators `--delimiter` names
DELIMITERS = {"comma": ",", "semicolon": ";", "tab": "\t", "pipe": "|", "space": r"\s+"}
