"""`/slicer/mrml` over real sockets with aiohttp's client: selection, properties, load (local
file, file: URL, http URL, DICOM folder), save, reload, remove, file roots, bad paths."""

from __future__ import annotations

import os

import nrrd
import numpy as np
import pytest
from aiohttp import web
from slicer_testdata import sample_voxels, write_ct_series, write_markups_file, write_nrrd_file

from bridge.commands import SetText

JSON = "application/json"


async def load(session, running, **query) -> dict:
    async with session.post(running.url("/slicer/mrml"), params=query) as response:
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"] == JSON
        return await response.json()


async def get_json(session, address, status=200, **query):
    async with session.get(address, params=query) as response:
        assert response.status == status, await response.text()
        assert response.headers["Content-Type"] == JSON
        return await response.json()


@pytest.fixture
async def scene_with_files(http_bridge, http_session, tmp_path):
    """A volume, a labelmap and a point list, loaded from real files."""
    await load(http_session, http_bridge, localfile=str(write_nrrd_file(tmp_path / "Head.nrrd")))
    await load(
        http_session,
        http_bridge,
        localfile=str(write_nrrd_file(tmp_path / "Seg.nrrd")),
        filetype="VolumeFile",
        labelmap="1",
    )
    await load(
        http_session,
        http_bridge,
        localfile=str(write_markups_file(tmp_path / "F.mrk.json", "F", [(1, 2, 3)])),
        filetype="MarkupsFile",
    )
    return http_bridge


async def test_names_and_ids_select_by_class_name_and_id(scene_with_files, http_session):
    base = scene_with_files.url("/slicer/mrml")
    everything = await get_json(http_session, base)
    assert {"Head", "Seg", "F", "Red", "Layout"} <= set(everything)
    assert await get_json(http_session, base + "/names", **{"class": "vtkMRMLVolumeNode"}) == [
        "Head",
        "Seg",
    ]
    assert await get_json(
        http_session, base + "/ids", **{"class": "vtkMRMLLabelMapVolumeNode"}
    ) == ["vtkMRMLLabelMapVolumeNode1"]
    assert await get_json(http_session, base + "/ids", name="F") == ["vtkMRMLMarkupsFiducialNode1"]
    # `id` wins over class and name, as in Slicer
    assert await get_json(
        http_session, base + "/names", id="vtkMRMLScalarVolumeNode1", name="F"
    ) == ["Head"]
    assert await get_json(http_session, base + "/ids", name="nobody") == []


async def test_properties_are_keyed_by_id_and_nested(scene_with_files, http_session):
    properties = await get_json(
        http_session,
        scene_with_files.url("/slicer/mrml/properties"),
        **{"class": "vtkMRMLScalarVolumeNode"},
    )
    assert list(properties) == ["vtkMRMLScalarVolumeNode1", "vtkMRMLLabelMapVolumeNode1"]
    assert properties["vtkMRMLScalarVolumeNode1"]["ImageData"]["Extent"] == [0, 2, 0, 3, 0, 4]


async def test_properties_of_a_text_node_carry_its_text(http_bridge, http_session):
    applied = await http_bridge.bridge.bus.submit(SetText(node="Memo", text="needle in place"))
    assert applied.ok
    properties = await get_json(
        http_session, http_bridge.url("/slicer/mrml/properties"), **{"class": "vtkMRMLTextNode"}
    )
    (memo,) = properties.values()
    assert (memo["ClassName"], memo["Name"]) == ("vtkMRMLTextNode", "Memo")
    assert (memo["Text"], memo["Encoding"]) == ("needle in place", 1)


async def test_properties_without_a_match_is_404_with_the_original_message(
    http_bridge, http_session
):
    body = await get_json(
        http_session, http_bridge.url("/slicer/mrml/properties"), status=404, name="x"
    )
    assert body == {"success": False, "message": "No nodes matched the filter criteria"}


async def test_an_invalid_mrml_path_is_404_naming_the_valid_ones(http_bridge, http_session):
    body = await get_json(http_session, http_bridge.url("/slicer/mrml/nodes"), status=404)
    assert "Invalid path" in body["message"] and "/mrml/properties" in body["message"]


async def test_load_answers_loaded_ids_and_filetype_may_be_omitted(
    http_bridge, http_session, tmp_path
):
    answer = await load(
        http_session, http_bridge, localfile=str(write_nrrd_file(tmp_path / "v.nrrd"))
    )
    assert answer == {"success": True, "loadedNodeIDs": ["vtkMRMLScalarVolumeNode1"]}


async def test_post_to_the_documented_mrml_file_path_loads_too(http_bridge, http_session, tmp_path):
    path = write_nrrd_file(tmp_path / "doc.nrrd")
    async with http_session.post(
        http_bridge.url("/slicer/mrml/file"),
        params={"localfile": str(path), "filetype": "VolumeFile"},
    ) as response:
        assert response.status == 200
        assert (await response.json())["loadedNodeIDs"] == ["vtkMRMLScalarVolumeNode1"]


async def test_load_from_a_file_url_and_a_dicom_folder(http_bridge, http_session, tmp_path):
    path = write_nrrd_file(tmp_path / "with space.nrrd")
    answer = await load(http_session, http_bridge, url=path.as_uri(), filetype="VolumeFile")
    assert answer["loadedNodeIDs"] == ["vtkMRMLScalarVolumeNode1"]
    series = write_ct_series(tmp_path / "ct")
    answer = await load(http_session, http_bridge, localfile=str(tmp_path / "ct"))
    assert len(answer["loadedNodeIDs"]) == 1
    # slicerio's default filetype (VolumeFile) for a DICOM file still reads it as DICOM
    answer = await load(
        http_session, http_bridge, localfile=str(series["files"][0]), filetype="VolumeFile"
    )
    assert len(answer["loadedNodeIDs"]) == 1


async def test_load_from_an_http_url_keeps_the_file_name(http_bridge, http_session, tmp_path):
    served = write_markups_file(tmp_path / "www" / "Points.mrk.json", "P", [(0, 0, 0)])
    app = web.Application()
    app.router.add_static("/data", served.parent)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        answer = await load(
            http_session, http_bridge, url=f"http://127.0.0.1:{port}/data/Points.mrk.json"
        )
        assert answer["loadedNodeIDs"] == ["vtkMRMLMarkupsFiducialNode1"]
        async with http_session.post(
            http_bridge.url("/slicer/mrml"),
            params={"url": f"http://127.0.0.1:{port}/data/absent.nrrd"},
        ) as response:
            assert response.status == 502
            assert "404" in (await response.json())["message"]
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("query", "status", "fragment"),
    [
        ({}, 400, "`url` or `localfile`"),
        ({"localfile": "/no/such/file.nrrd"}, 400, "no such file"),
        ({"url": "ftp://example.invalid/a.nrrd"}, 400, "ftp"),
        ({"url": "file://otherhost/tmp/a.nrrd"}, 400, "another host"),
        ({"url": "slicer://viewer/?nothing=1"}, 400, "slicer://"),
    ],
)
async def test_bad_load_requests_are_caller_errors(
    http_bridge, http_session, query, status, fragment
):
    async with http_session.post(http_bridge.url("/slicer/mrml"), params=query) as response:
        assert response.status == status
        assert response.headers["Content-Type"] == JSON
        assert fragment in (await response.json())["message"]


async def test_a_malformed_file_is_a_400_with_the_reason(http_bridge, http_session, tmp_path):
    broken = tmp_path / "broken.nrrd"
    broken.write_bytes(b"NRRD0004\ntype: short\ndimension: 3\nsizes: 4 4 4\nencoding: raw\n\n12")
    async with http_session.post(
        http_bridge.url("/slicer/mrml"), params={"localfile": str(broken)}
    ) as response:
        assert response.status == 400
        assert "cannot read NRRD" in (await response.json())["message"]


async def test_save_forwards_properties_and_apply_transforms(
    scene_with_files, http_session, tmp_path
):
    target = tmp_path / "saved" / "Head.nrrd"
    target.parent.mkdir()
    body = await get_json(
        http_session,
        scene_with_files.url("/slicer/mrml/file"),
        localfile=str(target),
        name="Head",
        useCompression="false",
        applytransforms="true",
    )
    assert body == {"success": True}
    array, header = nrrd.read(str(target), index_order="C")
    assert header["encoding"] == "raw"
    assert np.array_equal(array, sample_voxels())
    markups = tmp_path / "saved" / "F.mrk.json"
    assert await get_json(
        http_session, scene_with_files.url("/slicer/mrml/file"), url=markups.as_uri(), name="F"
    ) == {"success": True}
    assert markups.exists()


async def test_save_selects_exactly_one_node(scene_with_files, http_session, tmp_path):
    url = scene_with_files.url("/slicer/mrml/file")
    many = await get_json(
        http_session,
        url,
        status=400,
        localfile=str(tmp_path / "a.nrrd"),
        **{"class": "vtkMRMLVolumeNode"},
    )
    assert "single node" in many["message"]
    none = await get_json(http_session, url, status=404, localfile=str(tmp_path / "a"), name="zz")
    assert none["message"] == "No nodes matched the filter criteria"
    nowhere = await get_json(http_session, url, status=400, name="Head")
    assert "`url` or `localfile`" in nowhere["message"]
    bad_format = await get_json(
        http_session, url, status=400, localfile=str(tmp_path / "a.xyz"), name="Head"
    )
    assert "cannot save" in bad_format["message"]


async def test_a_failed_write_still_answers_200_with_success_false(
    scene_with_files, http_session, tmp_path
):
    body = await get_json(
        http_session,
        scene_with_files.url("/slicer/mrml/file"),
        localfile=str(tmp_path / "no" / "such" / "folder" / "Head.nrrd"),
        name="Head",
    )
    assert body == {"success": False}


async def test_reload_answers_reloaded_ids_or_success_false(
    scene_with_files, http_session, tmp_path
):
    async with http_session.put(
        scene_with_files.url("/slicer/mrml"), params={"name": "Head"}
    ) as response:
        assert await response.json() == {
            "success": True,
            "reloadedNodeIDs": ["vtkMRMLScalarVolumeNode1"],
        }
    async with http_session.put(
        scene_with_files.url("/slicer/mrml"), params={"id": "vtkMRMLSliceNodeRed"}
    ) as response:
        assert response.status == 200
        assert await response.json() == {"success": False, "reloadedNodeIDs": []}
    async with http_session.put(scene_with_files.url("/slicer/mrml")) as response:
        reloaded = (await response.json())["reloadedNodeIDs"]
        assert len(reloaded) == 3
    async with http_session.put(
        scene_with_files.url("/slicer/mrml"), params={"name": "none"}
    ) as response:
        assert response.status == 404


async def test_delete_removes_the_selection_and_no_selection_clears(scene_with_files, http_session):
    async with http_session.delete(
        scene_with_files.url("/slicer/mrml"), params={"class": "vtkMRMLMarkupsNode"}
    ) as response:
        assert (await response.json())["success"] is True
    names = await get_json(http_session, scene_with_files.url("/slicer/mrml/names"))
    assert "F" not in names and "Head" in names
    async with http_session.delete(
        scene_with_files.url("/slicer/mrml"), params={"name": "F"}
    ) as response:
        assert response.status == 404
    async with http_session.delete(scene_with_files.url("/slicer/mrml")) as response:
        assert await response.json() == {"success": True}
    names = await get_json(http_session, scene_with_files.url("/slicer/mrml/names"))
    assert "Head" not in names and "Red" in names  # views stay, as after Slicer's Clear()


async def test_file_roots_confine_localfile_and_file_urls(
    start_http_bridge, http_session, tmp_path
):
    root = tmp_path / "root"
    running = await start_http_bridge(file_roots=os.pathsep.join([str(root), str(tmp_path / "b")]))
    inside = write_nrrd_file(root / "in.nrrd")
    outside = write_nrrd_file(tmp_path / "out.nrrd")
    (root / "link.nrrd").symlink_to(outside)
    await load(http_session, running, localfile=str(inside))
    for query in (
        {"localfile": str(outside)},
        {"localfile": str(root / ".." / "out.nrrd")},
        {"localfile": str(root / "link.nrrd")},
        {"url": outside.as_uri()},
        {"localfile": "../../out.nrrd"},
    ):
        async with http_session.post(running.url("/slicer/mrml"), params=query) as response:
            assert response.status == 403, query
            assert "outside the allowed file roots" in (await response.json())["message"]
    refused = await get_json(
        http_session,
        running.url("/slicer/mrml/file"),
        status=403,
        localfile=str(tmp_path / "escape.nrrd"),
        name="in",
    )
    assert "outside the allowed file roots" in refused["message"]
    assert not (tmp_path / "escape.nrrd").exists()
    saved = await get_json(
        http_session, running.url("/slicer/mrml/file"), localfile=str(root / "ok.nrrd"), name="in"
    )
    assert saved == {"success": True}


async def test_relative_paths_are_inside_the_data_folder(http_bridge, http_session):
    data_dir = http_bridge.settings.data_dir
    write_nrrd_file(data_dir / "rel" / "r.nrrd")
    answer = await load(http_session, http_bridge, localfile="rel/r.nrrd")
    assert answer["loadedNodeIDs"] == ["vtkMRMLScalarVolumeNode1"]


async def test_a_query_token_is_not_taken_for_a_load_property(
    start_http_bridge, http_session, tmp_path, monkeypatch
):
    from bridge import commands as c

    seen: list[dict] = []
    original = c.LoadFile.__post_init__

    def record(self) -> None:
        original(self)
        seen.append(dict(self.properties))

    monkeypatch.setattr(c.LoadFile, "__post_init__", record)
    running = await start_http_bridge(token="s3cret")
    path = write_nrrd_file(tmp_path / "t.nrrd")
    async with http_session.post(
        running.url("/slicer/mrml"), params={"localfile": str(path), "token": "s3cret", "name": "T"}
    ) as response:
        assert response.status == 200
    assert seen == [{"name": "T"}]
