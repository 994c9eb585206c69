"""robinterp: adversarial robustness and interpretability, reproduced end to end.

Reproduces Boychev (2023), "Interpretable Computer Vision Models through
Adversarial Training", and puts related methods beside it. The Snakemake
workflow at the repository root calls ``python -m robinterp <command>``;
everything it computes lives in this package.
"""

__version__ = "0.1.0"
