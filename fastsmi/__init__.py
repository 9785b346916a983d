"""fastsmi: fast, seeded estimators of Sliced Mutual Information.

The public surface is small:

* :func:`smi` -- sliced mutual information of two samples;
* :func:`smi_test` -- permutation test of independence with SMI;
* :func:`mi` -- mutual information (1-D slices, discrete labels, or full-dimensional);
* :func:`entropy` -- differential entropy;
* :mod:`fastsmi.projections` -- seeded random directions.
"""
from . import projections
from ._api import SMIResult, entropy, mi, smi
from ._permtest import SMITestResult, smi_test

__version__ = "0.1.0"
__all__ = ["SMIResult", "SMITestResult", "entropy", "mi", "projections", "smi", "smi_test", "__version__"]
