"""fastsmi: fast, seeded estimators of Sliced Mutual Information.

The public surface is small:

* :func:`smi` -- sliced mutual information of two samples;
* :func:`mi` -- mutual information (1-D slices, discrete labels, or full-dimensional);
* :func:`entropy` -- differential entropy;
* :mod:`fastsmi.projections` -- seeded random directions.
"""
from . import projections
from ._api import SMIResult, entropy, mi, smi

__version__ = "0.1.0"
__all__ = ["SMIResult", "entropy", "mi", "projections", "smi", "__version__"]
