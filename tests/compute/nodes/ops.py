"""Operations for the compute tests: small, fast, and each showing one behaviour."""

import time

import numpy as np

from bridge.compute import ComputeNode, Parameter, Points, Transform, Volume

node = ComputeNode("test-ops")


@node.operation("identity", inputs={"volume": Volume}, outputs={"volume": Volume})
def identity(job):
    """The input volume, unchanged."""
    return job.inputs["volume"]


@node.operation(
    "slow",
    parameters=[
        Parameter("seconds", float, default=1.0, minimum=0.0, maximum=60.0),
        Parameter("steps", int, default=10, minimum=1, maximum=1000),
    ],
    inputs={"volume": Volume},
    outputs={"volume": Volume},
)
def slow(job):
    """The input volume, after `seconds` of work in `steps` reported steps."""
    steps = job.parameters["steps"]
    for step in range(steps):
        time.sleep(job.parameters["seconds"] / steps)
        job.progress((step + 1) / steps, f"step {step + 1} of {steps}")
    return job.inputs["volume"]


@node.operation("explode", inputs={"volume": Volume}, outputs={"volume": Volume})
def explode(job):
    """Always fails."""
    raise RuntimeError("the operation failed on purpose")


@node.operation(
    "centroid",
    inputs={"points": Points, "offset": Transform},
    outputs={"centroid": Points, "count": "value", "shift": Transform},
)
def centroid(job):
    """Centroid of a point list moved by a transform; the count; a translation to it."""
    positions = job.inputs["points"].positions
    matrix = job.inputs["offset"].matrix
    moved = positions @ matrix[:3, :3].T + matrix[:3, 3]
    middle = moved.mean(axis=0)
    shift = np.eye(4)
    shift[:3, 3] = middle
    return {
        "centroid": Points([middle], ["centroid"]),
        "count": len(positions),
        "shift": Transform(shift),
    }
