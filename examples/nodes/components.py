"""Connected components of a labelmap (6-connectivity), numbered by decreasing size, with
numpy only: labels spread from each voxel to its neighbours until nothing changes.

    slicer-bridge node run examples/nodes/components.py --bridge 127.0.0.1:18944
"""

import numpy as np

from bridge.compute import ComputeNode, Parameter, Volume

node = ComputeNode("components")


def propagate(labels):
    """One pass: every foreground voxel takes the smallest label among its 6 neighbours."""
    changed = False
    for axis in range(3):
        for shift in (1, -1):
            neighbour = np.roll(labels, shift, axis=axis)
            edge = [slice(None)] * 3
            edge[axis] = 0 if shift == 1 else -1
            neighbour[tuple(edge)] = 0  # no wrap-around
            better = (labels > 0) & (neighbour > 0) & (neighbour < labels)
            if better.any():
                labels[better] = neighbour[better]
                changed = True
    return changed


@node.operation(
    "components",
    parameters=[
        Parameter(
            "minimum_size",
            int,
            default=1,
            minimum=1,
            description="components with fewer voxels are dropped",
        ),
    ],
    inputs={"mask": Volume},
    outputs={"labels": Volume, "sizes": "value"},
)
def components(job):
    """Labelmap of the connected components of a mask, largest first; their sizes."""
    mask = job.inputs["mask"]
    foreground = mask.array > 0
    labels = np.zeros(mask.array.shape, dtype=np.int64)
    labels[foreground] = np.arange(1, int(foreground.sum()) + 1)
    passes = 0
    while propagate(labels):
        passes += 1
        job.progress(min(0.9, passes / 100), f"pass {passes}")
    roots, counts = np.unique(labels[foreground], return_counts=True)
    keep = counts >= job.parameters["minimum_size"]
    order = np.argsort(-counts[keep], kind="stable")
    lookup = np.zeros(labels.max() + 1, dtype=np.int32)
    lookup[roots[keep][order]] = np.arange(1, len(order) + 1)
    result = lookup[labels].astype(np.uint16 if len(order) > 255 else np.uint8)
    return {
        "labels": mask.like(result, labelmap=True),
        "sizes": counts[keep][order].tolist(),
    }


if __name__ == "__main__":
    node.serve("127.0.0.1:18944")
