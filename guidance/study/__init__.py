"""Work too big for one run: studies of the target registration error over many simulated
exercises (``gestes study tre``) and the grading of a class's recorded runs (``gestes grade``),
cut into independent pieces that Dask runs on this machine's cores or on a lab cluster."""
