"""liverlib: liver and liver-tumor analysis on abdominal CT.

Decoding (``read_study``) imports only numpy, pydicom and nibabel; the model,
plots and widgets load their heavy libraries on first use.
"""

from liverlib.errors import StudyError
from liverlib.study import discover_studies, read_study
from liverlib.volume import Volume

__all__ = ["StudyError", "Volume", "discover_studies", "read_study"]
__version__ = "0.1.0"
