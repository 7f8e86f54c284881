"""Threshold a volume: 1 where lower <= value <= upper, 0 elsewhere, same geometry.

    slicer-bridge node run examples/nodes/threshold.py --bridge 127.0.0.1:18944

then, with a volume in the scene:

    curl -X POST http://127.0.0.1:2016/bridge/compute/threshold \
         -d '{"inputs": {"volume": "MRHead"}, "parameters": {"lower": 100, "upper": 300},
              "outputs": {"mask": "MRHead mask"}}'
"""

import numpy as np

from bridge.compute import ComputeNode, Parameter, Volume

node = ComputeNode("threshold")


@node.operation(
    "threshold",
    parameters=[
        Parameter("lower", float, default=0.0, description="lowest value inside"),
        Parameter("upper", float, default=1000.0, description="highest value inside"),
    ],
    inputs={"volume": Volume},
    outputs={"mask": Volume},
)
def threshold(job):
    """Labelmap of the voxels within [lower, upper]."""
    volume = job.inputs["volume"]
    lower, upper = job.parameters["lower"], job.parameters["upper"]
    if lower > upper:
        raise ValueError(f"lower ({lower}) is above upper ({upper})")
    inside = (volume.array >= lower) & (volume.array <= upper)
    return volume.like(inside.astype(np.uint8), labelmap=True)


if __name__ == "__main__":
    node.serve("127.0.0.1:18944")
