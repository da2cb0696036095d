"""liverlib: liver and liver-tumor analysis on abdominal CT.

Decoding (``read_study``) imports only numpy, pydicom and nibabel; the model,
plots and widgets load their heavy libraries on first use.
"""

import os

# TensorFlow's C++ info and warning logs are not for users; set before any
# liverlib module imports keras. (TF 2.21 still prints a few absl lines at
# start-up; the batch runner keeps them out of run.log.)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from liverlib.errors import StudyError  # noqa: E402
from liverlib.study import discover_studies, read_study  # noqa: E402
from liverlib.volume import Volume  # noqa: E402

__all__ = ["StudyError", "Volume", "discover_studies", "read_study"]
__version__ = "0.1.0"
