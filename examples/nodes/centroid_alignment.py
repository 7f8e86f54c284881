"""A transform moving one volume's intensity centroid onto another's (a first, rough
registration step): the result is a linear transform node in the scene.

    slicer-bridge node run examples/nodes/centroid_alignment.py --bridge 127.0.0.1:18944
"""

import numpy as np

from bridge.compute import ComputeNode, Parameter, Transform, Volume

node = ComputeNode("centroid-alignment")


def centroid(volume, threshold):
    """RAS position of the centroid of the voxels above `threshold`, weighted by value."""
    weights = np.where(volume.array > threshold, volume.array, 0).astype(np.float64)
    total = weights.sum()
    if total <= 0:
        raise ValueError("no voxel is above the threshold")
    k, j, i = np.indices(volume.array.shape, sparse=True)
    ijk = [(weights * i).sum() / total, (weights * j).sum() / total, (weights * k).sum() / total]
    return (volume.ijk_to_ras @ np.array([*ijk, 1.0]))[:3]


@node.operation(
    "centroid_alignment",
    parameters=[Parameter("threshold", float, default=0.0, description="ignore voxels below")],
    inputs={"fixed": Volume, "moving": Volume},
    outputs={"transform": Transform},
)
def centroid_alignment(job):
    """Translation taking the moving volume's centroid to the fixed one's."""
    threshold = job.parameters["threshold"]
    matrix = np.eye(4)
    matrix[:3, 3] = centroid(job.inputs["fixed"], threshold) - centroid(
        job.inputs["moving"], threshold
    )
    return Transform(matrix)


if __name__ == "__main__":
    node.serve("127.0.0.1:18944")
