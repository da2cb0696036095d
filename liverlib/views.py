"""The three views of a study cube (:mod:`liverlib.cube`): slice, window, 2.5D inputs, and back.

Display orientation (DESIGN.md; ``cube`` indexed ``(z, y, x)`` LPS: z inferior
to superior, y anterior to posterior, x patient right to left):

* axial ``k``: ``cube[k]``; rows anterior (top) to posterior, columns patient
  right (image left) to left; index ``k`` runs inferior to superior.
* coronal ``j``: ``cube[::-1, j, :]``; rows superior (top) to inferior,
  columns patient right (image left) to left; ``j`` runs anterior to posterior.
* sagittal ``i``: ``cube[::-1, :, i]``; rows superior (top) to inferior,
  columns anterior (image left) to posterior; ``i`` runs patient right to left.

So a marker in the patient's right-anterior-superior octant shows in the
top-left corner of all three views (tests/test_orientation.py).
"""

from __future__ import annotations

import numpy as np

from liverlib.slice_dataset import VIEWS

#: Default HU windows (level, width), one input channel each: the abdomen
#: window (level 60, width 400 maps -140..260 HU to 0..1: fat, liver, vessels,
#: bone edges) and a narrow liver window (level 60, width 150 maps -15..135 HU
#: to 0..1, where hypodense tumors stand out from enhanced parenchyma).
DEFAULT_WINDOWS = ((60.0, 400.0), (60.0, 150.0))
#: Gap (cube slices) between 2.5D context neighbours: about 3.2 mm in a liver box, 5.6 mm in a body cube, at 128 px.
CONTEXT_STEP = 2


def view_slices(cube: np.ndarray, view: str) -> np.ndarray:
    """Stack of display-oriented slices of one view (a view, not a copy).

    Args:
        cube: ``(S, S, S)`` or ``(S, S, S, C)`` in ``(z, y, x)`` LPS order.
        view: ``axial``, ``coronal`` or ``sagittal``.

    Returns:
        ``stack`` with ``stack[n]`` the n-th slice as DESIGN.md displays it:
        axial ``cube[n]``, coronal ``cube[::-1, n, :]``, sagittal ``cube[::-1, :, n]``.
    """
    rest = tuple(range(3, cube.ndim))
    if view == "axial":
        return cube
    if view == "coronal":
        return cube[::-1].transpose((1, 0, 2) + rest)
    if view == "sagittal":
        return cube[::-1].transpose((2, 0, 1) + rest)
    raise ValueError(f"view must be one of {VIEWS}, got {view!r}")


def view_slices_inverse(stack: np.ndarray, view: str) -> np.ndarray:
    """Undo :func:`view_slices`: a per-view stack (e.g. model outputs
    ``(S, S, S, K)``) back to the cube's ``(z, y, x)`` order."""
    rest = tuple(range(3, stack.ndim))
    if view == "axial":
        return stack
    if view == "coronal":
        return stack.transpose((1, 0, 2) + rest)[::-1]
    if view == "sagittal":
        return stack.transpose((1, 2, 0) + rest)[::-1]
    raise ValueError(f"view must be one of {VIEWS}, got {view!r}")


def apply_windows(hu: np.ndarray, windows=DEFAULT_WINDOWS) -> np.ndarray:
    """Scale HU into [0, 1] through one or more windows, one channel each.

    Args:
        hu: Any shape, in HU.
        windows: ``(level, width)`` pairs; level 60 width 400 maps -140 HU to
            0, 260 HU to 1 and 60 HU to 0.5, clipping outside.

    Returns:
        float32 ``hu.shape + (C,)`` with C = len(windows).
    """
    windows = np.asarray(windows, np.float32).reshape(-1, 2)
    if np.any(windows[:, 1] <= 0):
        raise ValueError(f"window widths must be positive, got {windows.tolist()}")
    low = windows[:, 0] - windows[:, 1] / 2
    out = (np.asarray(hu, np.float32)[..., None] - low) / windows[:, 1]
    return np.clip(out, 0.0, 1.0, out=out)


def input_channels(n_windows: int, context_slices: int = 0) -> int:
    """Model input channels: each window of the slice, plus one per neighbour."""
    return int(n_windows) + 2 * int(context_slices)


def slice_inputs(hu_stack: np.ndarray, index, windows=DEFAULT_WINDOWS, context_slices: int = 0,
                 context_step: int = CONTEXT_STEP) -> np.ndarray:
    """Model inputs of some slices of one view: windowed HU, with 2.5D context.

    Channels ``0 .. C-1`` are the slice itself through each window, so
    channel 0 is always the slice in the first window (what figures show).
    With ``context_slices = k`` the neighbours at ``-k*step .. -step`` and
    ``+step .. +k*step`` along the view's slice axis (``step`` cube slices:
    ``CONTEXT_STEP`` = 2 is about 3.2 mm at 128 px in a liver box, 5.6 mm in a body cube;
    above/below in axial, in front/behind in coronal, right/left in
    sagittal) follow through the narrowest window, where a hypodense tumor
    (40-80 HU) stands out from enhanced liver (100-130 HU): a tumor is a blob
    that grows and shrinks across neighbours, a vessel a tube that moves.
    Neighbours beyond the stack repeat its end slice.

    Args:
        hu_stack: ``(N, S, S)`` HU slices of one view (``view_slices``).
        index: Slice indices to prepare, e.g. ``np.arange(N)``.
        windows: HU ``(level, width)`` pairs.
        context_slices: Neighbours each side (0: plain 2D input).
        context_step: Cube slices between neighbours (recorded in the manifest).

    Returns:
        float32 ``(len(index), S, S, C)`` in [0, 1], ``C = input_channels(...)``.
    """
    index = np.asarray(index, dtype=np.int64)
    own = apply_windows(hu_stack[index], windows)
    if not context_slices:
        return own
    windows = np.asarray(windows, np.float32).reshape(-1, 2)
    narrow = windows[int(np.argmin(windows[:, 1]))]
    offsets = [o * int(context_step) for o in range(-context_slices, context_slices + 1) if o]
    last = hu_stack.shape[0] - 1
    near = [apply_windows(hu_stack[np.clip(index + o, 0, last)], [narrow]) for o in offsets]
    return np.concatenate([own, *near], axis=-1)


def parse_window(text: str) -> tuple[float, float]:
    """``"60,400"`` -> ``(60.0, 400.0)`` (for command lines and configs)."""
    try:
        level, width = (float(part) for part in text.split(","))
    except ValueError as err:
        raise ValueError(f"a window is LEVEL,WIDTH in HU (e.g. 60,400), got {text!r}") from err
    if width <= 0:
        raise ValueError(f"window width must be positive, got {text!r}")
    return level, width
