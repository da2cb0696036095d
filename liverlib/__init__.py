"""liverlib: liver and liver-tumor analysis on abdominal CT.

Decoding (``read_study``) imports only numpy, pydicom and nibabel; the model,
plots and widgets load their heavy libraries on first use.
"""

import os

# TensorFlow's C++ start-up chatter (CUDA probes, oneDNN notes) is not for users;
# set before any liverlib module imports keras.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from liverlib.errors import StudyError  # noqa: E402
from liverlib.study import discover_studies, read_study  # noqa: E402
from liverlib.volume import Volume  # noqa: E402

__all__ = ["StudyError", "Volume", "discover_studies", "read_study"]
__version__ = "0.1.0"
