"""Compute nodes: external processes that take jobs from the scene and send results back.

Two halves live here, and only the first is imported by this package:

* the **node SDK** — `ComputeNode` (declare operations with `@node.operation`, then
  `node.serve("host:port")`), the data types `Volume`, `Transform`, `Points`, `Parameter`
  for parameter schemas, `Job` (what a handler receives) and `JobCancelled`. It needs only
  numpy and pyigtl, so a node runs in any Python environment: another virtualenv, another
  machine, a container. `bridge.compute.cli` is its command line.
* the **bridge side** — `bridge.compute.registry` (nodes, operations, job queues,
  dispatch, health) with `jobs` and `scene_data`; the composition root creates it, the
  OpenIGTLink adapter feeds it, HTTP and the bus reach it through `RunCompute`. Import it
  explicitly; it needs the scene and the bus.

`bridge.compute.protocol` defines the job protocol both halves speak.
"""

from bridge.compute.node import ComputeNode, Job, JobCancelled
from bridge.compute.schema import Parameter, ParameterError, SchemaError
from bridge.compute.values import Points, Transform, Volume

__all__ = [
    "ComputeNode",
    "Job",
    "JobCancelled",
    "Parameter",
    "ParameterError",
    "Points",
    "SchemaError",
    "Transform",
    "Volume",
]
