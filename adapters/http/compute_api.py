"""Compute jobs over HTTP, under `/bridge` (routes in `COMPUTE_ROUTES`, mounted by
`bridge_api.BRIDGE_ROUTES`):

* `GET /bridge/compute` — the operations the connected nodes offer, with their parameter
  schemas, inputs, outputs, the nodes offering each and their queues; and the nodes;
* `POST /bridge/compute/<operation>` — body `{"inputs": {"volume": "<node id or name>"},
  "parameters": {…}, "outputs": {"mask": "<new node name>"}, "timeout": 60}` → 202
  `{"job": "<id>"}` with `Location: /bridge/jobs/<id>`. It goes through the bus as a
  `RunCompute` command, so the inputs read are those after every earlier write;
* `GET /bridge/jobs` — every job the bridge remembers, newest last;
* `GET /bridge/jobs/<id>` — `{"state": "queued"|"running"|"done"|"failed"|"cancelled",
  "progress", "outputs", "error", …}`; `?wait=<seconds>` (at most 60) answers as soon as
  the job ends, or after that long;
* `DELETE /bridge/jobs/<id>` — cancel (409 if it already ended).

Errors: unknown operation or job 404, bad parameters/inputs/outputs 400 naming the field,
a bridge without compute 501.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from adapters.http.context import bridge_of
from adapters.http.responses import HttpError, json_response, raise_for_result
from adapters.http.routing import QueryParams, Route
from adapters.http.slicer_common import command
from bridge import commands as c
from bridge.compute.jobs import JobFinished, JobNotFound
from bridge.compute.registry import ComputeRegistry

MAX_WAIT = 60.0
_REQUEST_FIELDS = ("inputs", "parameters", "outputs", "timeout")


def registry_of(request: web.Request) -> ComputeRegistry:
    registry = getattr(bridge_of(request), "compute", None)
    if registry is None:
        raise HttpError(501, "compute is not available in this bridge (started with --no-compute)")
    return registry


async def list_operations(request: web.Request) -> web.Response:
    registry = registry_of(request)
    return json_response({"operations": registry.operations_json(), "nodes": registry.nodes_json()})


async def run_operation(request: web.Request) -> web.Response:
    registry = registry_of(request)
    operation = request.path.removeprefix("/bridge/compute/").strip("/")
    if not operation or "/" in operation:
        raise HttpError(404, f"not an operation path: {request.path}")
    if registry.operation(operation) is None:
        offered = ", ".join(entry["name"] for entry in registry.operations_json())
        raise HttpError(
            404, f"no compute node offers '{operation}'; operations: {offered or '(none)'}"
        )
    body = await _json_body(request)
    unknown = sorted(set(body) - set(_REQUEST_FIELDS))
    if unknown:
        raise HttpError(
            400, f"unknown field(s) {', '.join(unknown)}; fields: {', '.join(_REQUEST_FIELDS)}"
        )
    run = command(request, c.RunCompute, operation=operation, **body)
    value = raise_for_result(await bridge_of(request).bus.submit(run))
    response = json_response(value, status=202)
    response.headers["Location"] = f"/bridge/jobs/{value['job']}"
    return response


async def list_jobs(request: web.Request) -> web.Response:
    registry = registry_of(request)
    return json_response({"jobs": [job.to_json() for job in registry.jobs.values()]})


async def get_job(request: web.Request) -> web.Response:
    registry = registry_of(request)
    job_id = _job_id(request)
    wait = QueryParams(request).number("wait", 0.0) or 0.0
    try:
        if wait > 0:
            job = await registry.wait(job_id, min(wait, MAX_WAIT))
        else:
            job = registry.job(job_id)
    except JobNotFound as error:
        raise HttpError(404, str(error)) from None
    return json_response(job.to_json())


async def cancel_job(request: web.Request) -> web.Response:
    registry = registry_of(request)
    try:
        job = registry.cancel(_job_id(request))
    except JobNotFound as error:
        raise HttpError(404, str(error)) from None
    except JobFinished as error:
        raise HttpError(409, str(error)) from None
    return json_response(job.to_json())


def _job_id(request: web.Request) -> str:
    job_id = request.path.removeprefix("/bridge/jobs/").strip("/")
    if not job_id or "/" in job_id:
        raise HttpError(404, f"not a job path: {request.path}")
    return job_id


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError as error:
        raise HttpError(400, f"the request body is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise HttpError(400, "the request body must be a JSON object")
    return body


COMPUTE_ROUTES = (
    Route("/compute", list_operations, ("GET",), match="exact"),
    Route("/compute/", run_operation, ("POST",)),
    Route("/jobs", list_jobs, ("GET",), match="exact"),
    Route("/jobs/", get_job, ("GET",)),
    Route("/jobs/", cancel_job, ("DELETE",)),
)
