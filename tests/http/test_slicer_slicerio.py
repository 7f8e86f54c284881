"""slicerio 1.4, unmodified, against a running bridge: the client real users script Slicer with.

slicerio talks to `http://127.0.0.1:{slicerio.server.SERVER_PORT}` with `requests`, so each
test points that module global at the test bridge and runs the (blocking) client calls in a
worker thread while the bridge serves on the test's loop.
"""

from __future__ import annotations

import asyncio

import nrrd
import numpy as np
import pytest
import slicerio.server
from aiohttp import web
from slicer_testdata import (
    sample_voxels,
    write_markups_file,
    write_nrrd_file,
    write_seg_nrrd_file,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def system_alias(monkeypatch):
    """Mount `SYSTEM_ALIAS_ROUTES` at `/system` unless the application already does."""
    from adapters.http import app

    if not any(surface.mount == "/system" for surface in app.SURFACES):
        alias = app.Surface(
            "system-alias", "/system", "adapters.http.slicer_api", "SYSTEM_ALIAS_ROUTES", None
        )
        monkeypatch.setattr(app, "SURFACES", (*app.SURFACES, alias))


@pytest.fixture
async def slicer(http_bridge, monkeypatch):
    monkeypatch.setattr(slicerio.server, "SERVER_PORT", http_bridge.port)
    return http_bridge


def call(function, *args, **kwargs):
    """Run a blocking slicerio call off the loop that serves it."""
    return asyncio.to_thread(function, *args, **kwargs)


async def test_slicerio_sees_a_running_server(slicer) -> None:
    assert await call(slicerio.server.is_server_running)


async def test_file_load_of_a_nrrd_answers_its_node_id_and_properties(slicer, tmp_path) -> None:
    path = write_nrrd_file(tmp_path / "MRHead.nrrd")
    ids = await call(slicerio.server.file_load, path)
    assert ids == ["vtkMRMLScalarVolumeNode1"]
    assert await call(slicerio.server.node_ids, class_name="vtkMRMLVolumeNode") == ids
    assert await call(slicerio.server.node_names, class_name="vtkMRMLScalarVolumeNode") == [
        "MRHead"
    ]
    [properties] = await call(slicerio.server.node_properties, name="MRHead")
    assert properties["ClassName"] == "vtkMRMLScalarVolumeNode"
    assert properties["ImageData"]["Extent"] == [0, 2, 0, 3, 0, 4]
    assert properties["ImageData"]["Dimensions"] == [3, 4, 5]


async def test_file_load_of_a_markups_file_and_its_control_points(slicer, tmp_path) -> None:
    path = write_markups_file(tmp_path / "F.mrk.json", "F", [(1, 2, 3), (4, 5, 6)])
    ids = await call(slicerio.server.file_load, path, "MarkupsFile")
    assert ids == ["vtkMRMLMarkupsFiducialNode1"]
    [properties] = await call(slicerio.server.node_properties, id=ids[0])
    assert properties["Name"] == "F"
    assert properties["NumberOfControlPoints"] == 2
    assert properties["ControlPoints"][1]["Position"] == [4.0, 5.0, 6.0]


async def test_file_load_passes_properties_such_as_the_node_name(slicer, tmp_path) -> None:
    path = write_nrrd_file(tmp_path / "a.nrrd")
    await call(slicerio.server.file_load, path, properties={"name": "Renamed"})
    assert await call(slicerio.server.node_names, class_name="vtkMRMLVolumeNode") == ["Renamed"]


async def test_file_load_from_an_http_url_downloads_then_loads(slicer, tmp_path) -> None:
    served = write_nrrd_file(tmp_path / "www" / "Remote.nrrd")
    app = web.Application()
    app.router.add_static("/files", served.parent)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        ids = await call(slicerio.server.file_load, f"http://127.0.0.1:{port}/files/Remote.nrrd")
    finally:
        await runner.cleanup()
    assert await call(slicerio.server.node_names, id=ids[0]) == ["Remote"]


async def test_file_save_writes_the_volume_bit_for_bit(slicer, tmp_path) -> None:
    await call(slicerio.server.file_load, write_nrrd_file(tmp_path / "in.nrrd"))
    target = tmp_path / "out" / "saved.nrrd"
    target.parent.mkdir()
    await call(slicerio.server.file_save, target, name="in", properties={"useCompression": False})
    array, header = nrrd.read(str(target), index_order="C")
    assert header["encoding"] == "raw"
    assert np.array_equal(array, sample_voxels())


async def test_node_reload_rereads_the_file(slicer, tmp_path) -> None:
    path = write_nrrd_file(tmp_path / "live.nrrd")
    [node_id] = await call(slicerio.server.file_load, path)
    write_nrrd_file(path, np.zeros((2, 2, 2), dtype=np.int16))
    await call(slicerio.server.node_reload, id=node_id)
    [properties] = await call(slicerio.server.node_properties, id=node_id)
    assert properties["ImageData"]["Dimensions"] == [2, 2, 2]


async def test_file_load_of_a_segmentation_and_its_segments_in_properties(slicer, tmp_path):
    path = write_seg_nrrd_file(tmp_path / "Abdomen.seg.nrrd")
    ids = await call(slicerio.server.file_load, path, "SegmentationFile")
    assert ids == ["vtkMRMLSegmentationNode1"]
    [properties] = await call(slicerio.server.node_properties, id=ids[0])
    segments = properties["Segmentation"]["Segments"]
    assert [segment["Name"] for segment in segments.values()] == ["Liver", "Tumor", "Vessel"]
    saved = tmp_path / "saved.seg.nrrd"
    await call(slicerio.server.file_save, saved, id=ids[0])
    assert nrrd.read_header(str(saved))["Segment2_Name"] == "Vessel"


async def test_node_remove_by_name_and_then_everything(slicer, tmp_path) -> None:
    await call(slicerio.server.file_load, write_nrrd_file(tmp_path / "one.nrrd"))
    await call(slicerio.server.file_load, write_nrrd_file(tmp_path / "two.nrrd"))
    await call(slicerio.server.node_remove, name="one")
    assert await call(slicerio.server.node_names, class_name="vtkMRMLVolumeNode") == ["two"]
    await call(slicerio.server.node_remove)
    assert await call(slicerio.server.node_ids, class_name="vtkMRMLVolumeNode") == []


async def test_errors_reach_slicerio_as_runtime_error_text(slicer, tmp_path) -> None:
    with pytest.raises(RuntimeError, match="No nodes matched the filter criteria"):
        await call(slicerio.server.node_properties, name="nothing-by-this-name")
    with pytest.raises(RuntimeError, match="no such file"):
        await call(slicerio.server.file_load, tmp_path / "missing.nrrd", auto_start=False)
    with pytest.raises(RuntimeError, match="unsupported filetype 'ModelFile'"):
        await call(slicerio.server.file_load, write_nrrd_file(tmp_path / "s.nrrd"), "ModelFile")
    await call(slicerio.server.file_load, write_nrrd_file(tmp_path / "x.nrrd"))
    with pytest.raises(RuntimeError, match="can only be used for a single node"):
        await call(slicerio.server.file_save, tmp_path / "z.nrrd")  # no name: every node
    with pytest.raises(RuntimeError, match="No nodes matched"):
        await call(slicerio.server.file_save, tmp_path / "z.nrrd", name="absent")


async def test_file_roots_refusal_reaches_slicerio(start_http_bridge, monkeypatch, tmp_path):
    allowed = tmp_path / "allowed"
    running = await start_http_bridge(file_roots=str(allowed))
    monkeypatch.setattr(slicerio.server, "SERVER_PORT", running.port)
    inside = write_nrrd_file(allowed / "in.nrrd")
    outside = write_nrrd_file(tmp_path / "elsewhere" / "out.nrrd")
    assert await call(slicerio.server.file_load, inside) == ["vtkMRMLScalarVolumeNode1"]
    with pytest.raises(RuntimeError, match="outside the allowed file roots"):
        await call(slicerio.server.file_load, outside)


async def test_stop_server_stops_the_bridge(system_alias, start_http_bridge, monkeypatch):
    """slicerio's `stop_server()` sends `DELETE /system` (no `/slicer` prefix)."""
    running = await start_http_bridge()
    monkeypatch.setattr(slicerio.server, "SERVER_PORT", running.port)
    assert await call(slicerio.server.stop_server) == {"success": True}
    await asyncio.wait_for(running.bridge.wait_for_shutdown(), 5)
