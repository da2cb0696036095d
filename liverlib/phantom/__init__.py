"""Synthetic contrast-enhanced abdominal CT phantoms with liver/tumor ground truth.

``generate_phantom(seed)`` builds one study in memory; ``write_phantom_cohort``
writes N of them as DICOM in the 3D-IRCADb layout; ``phantom_figure`` shows one
in three views next to per-label HU histograms (plotly, imported lazily).
"""

from liverlib.phantom.cohort import write_phantom, write_phantom_cohort
from liverlib.phantom.generator import Phantom, generate_phantom


def phantom_figure(*args, **kwargs):
    """See ``liverlib.phantom.figures.phantom_figure``."""
    from liverlib.phantom.figures import phantom_figure as _figure

    return _figure(*args, **kwargs)


__all__ = ["Phantom", "generate_phantom", "phantom_figure", "write_phantom", "write_phantom_cohort"]
