"""Gaussian smoothing with numpy only: a separable kernel applied along i, j and k, with the
kernel width given in millimetres (so anisotropic voxels are smoothed evenly).

    slicer-bridge node run examples/nodes/gaussian.py --bridge 127.0.0.1:18944
"""

import numpy as np

from bridge.compute import ComputeNode, Parameter, Volume

node = ComputeNode("gaussian")


def kernel(sigma_voxels):
    """A normalised 1-D Gaussian reaching out to 3 sigma."""
    radius = max(1, int(np.ceil(3 * sigma_voxels)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-0.5 * (x / sigma_voxels) ** 2)
    return weights / weights.sum()


def smooth_along(array, axis, weights):
    """Convolve along one axis, edges replicated (`mode="nearest"`)."""
    radius = len(weights) // 2
    padding = [(0, 0)] * array.ndim
    padding[axis] = (radius, radius)
    padded = np.pad(array, padding, mode="edge")
    result = np.zeros_like(array)
    length = array.shape[axis]
    for offset, weight in enumerate(weights):
        result += weight * np.take(padded, np.arange(offset, offset + length), axis=axis)
    return result


@node.operation(
    "gaussian",
    parameters=[
        Parameter(
            "sigma",
            float,
            default=1.0,
            minimum=0.01,
            maximum=50.0,
            description="standard deviation in millimetres",
        ),
    ],
    inputs={"volume": Volume},
    outputs={"smoothed": Volume},
)
def gaussian(job):
    """Gaussian-smoothed copy of a volume (float32)."""
    volume = job.inputs["volume"]
    sigma = job.parameters["sigma"]
    result = volume.array.astype(np.float32)
    spacing_kji = volume.spacing[::-1]  # numpy axes are (k, j, i)
    for step, axis in enumerate(range(3)):
        sigma_voxels = sigma / spacing_kji[axis]
        if result.shape[axis] > 1 and sigma_voxels >= 0.1:
            result = smooth_along(result, axis, kernel(sigma_voxels).astype(np.float32))
        job.progress((step + 1) / 3, f"axis {'kji'[axis]} smoothed")
    return volume.like(result)


if __name__ == "__main__":
    node.serve("127.0.0.1:18944")
