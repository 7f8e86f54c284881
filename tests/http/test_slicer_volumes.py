"""`/slicer/volume(s)`, `volumeSelection` and grid transforms: NRRD down and up, bit for bit.

The download must be the original's attached-header layout with the voxel type kept; an
upload may be any NRRD pynrrd reads, including the int16 form the original insisted on, and
a malformed one is a 400 that names the problem.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import shutil

import nrrd
import numpy as np
import pytest
from slicer_testdata import (
    SHAPE_KJI,
    nrrd_bytes,
    oblique_lps_header,
    original_int16_nrrd,
    sample_voxels,
    write_nrrd_file,
)

from bridge.geometry import LPS_TO_RAS
from bridge.scene.io.grid_transform_nrrd import (
    decode_grid_transform_nrrd,
    encode_grid_transform_nrrd,
)
from bridge.scene.types import GridTransformData

ORIGINAL_HEADER_LINES = [
    "NRRD0004",
    "# Complete NRRD file format specification at:",
    "# http://teem.sourceforge.net/nrrd/format.html",
    "type: short",
    "dimension: 3",
    "space: left-posterior-superior",
    "sizes: 3 4 5",
    None,  # space directions: checked by value
    "kinds: domain domain domain",
    "endian: little",
    "encoding: raw",
    None,  # space origin: checked by value
]


async def get_volume(session, running, **query) -> bytes:
    async with session.get(running.url("/slicer/volume"), params=query) as response:
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"] == "application/octet-stream"
        return await response.read()


async def post_volume(session, running, body: bytes, status: int = 200, **query):
    async with session.post(running.url("/slicer/volume"), params=query, data=body) as response:
        assert response.status == status, await response.text()
        assert response.headers["Content-Type"] == "application/json"
        return await response.read()


def parse(data: bytes) -> tuple[np.ndarray, dict]:
    stream = io.BytesIO(data)
    header = nrrd.read_header(stream)
    return nrrd.read_data(header, stream, index_order="C"), header


async def test_download_has_the_original_layout_with_the_type_kept(
    http_bridge, http_session, tmp_path
):
    path = write_nrrd_file(tmp_path / "Head.nrrd")
    async with http_session.post(http_bridge.url("/slicer/mrml"), params={"localfile": str(path)}):
        pass
    data = await get_volume(http_session, http_bridge, id="Head")
    head, _, voxels = data.partition(b"\n\n")
    lines = head.decode("ascii").split("\n")
    assert len(lines) == len(ORIGINAL_HEADER_LINES)
    for line, expected in zip(lines, ORIGINAL_HEADER_LINES, strict=True):
        if expected is not None:
            assert line == expected
    assert lines[7].startswith("space directions: (") and lines[11].startswith("space origin: (")
    assert voxels == sample_voxels().astype("<i2").tobytes()
    array, header = parse(data)
    expected = oblique_lps_header()
    assert np.array_equal(header["space directions"], expected["space directions"])
    assert np.array_equal(header["space origin"], expected["space origin"])
    assert np.array_equal(array, sample_voxels())


@pytest.mark.parametrize(
    "dtype", ["uint8", "int8", "uint16", "int32", "float32", "float64", "uint64"]
)
async def test_any_scalar_type_goes_up_and_comes_back_bit_identical(
    http_bridge, http_session, dtype
):
    voxels = sample_voxels(dtype)
    if dtype.startswith("float"):
        voxels = voxels / np.array(3.0, dtype=dtype)  # fractions that only survive if exact
    body = nrrd_bytes(voxels, encoding="gzip")
    assert await post_volume(http_session, http_bridge, body, id="Up") == b"{'status': 'success'}"
    first = await get_volume(http_session, http_bridge, id="Up")
    array, header = parse(first)
    assert array.dtype == np.dtype(dtype)
    assert np.array_equal(array, voxels)
    expected = oblique_lps_header()
    assert np.array_equal(header["space directions"], expected["space directions"])
    assert np.array_equal(header["space origin"], expected["space origin"])
    # what was downloaded, uploaded again, downloads byte for byte the same
    await post_volume(http_session, http_bridge, first, id="Up")
    assert await get_volume(http_session, http_bridge, id="Up") == first


async def test_big_endian_bzip2_uploads_keep_their_values(http_bridge, http_session):
    voxels = (sample_voxels("float32") / 7).astype(">f4")
    body = nrrd_bytes(voxels, encoding="bzip2", endian="big")
    assert b"endian: big" in body and b"encoding: bzip2" in body
    await post_volume(http_session, http_bridge, body, id="Big")
    data = await get_volume(http_session, http_bridge, id="Big")
    assert b"type: float\n" in data and b"endian: little\n" in data
    array, _ = parse(data)
    assert np.array_equal(array, voxels.astype("<f4"))


async def test_the_original_int16_form_is_still_accepted(http_bridge, http_session):
    voxels = sample_voxels()
    await post_volume(http_session, http_bridge, original_int16_nrrd(voxels, (10.5, -4.0, 3.0)))
    names = await (await http_session.get(http_bridge.url("/slicer/volumes"))).json()
    assert names == [{"name": "Volume", "id": "vtkMRMLScalarVolumeNode1"}]
    array, header = parse(await get_volume(http_session, http_bridge))
    assert np.array_equal(array, voxels)
    assert np.array_equal(header["space directions"], np.diag([1.0, 2.0, 3.0]))
    assert np.array_equal(header["space origin"], [10.5, -4.0, 3.0])
    properties = await (
        await http_session.get(
            http_bridge.url("/slicer/mrml/properties"), params={"id": "vtkMRMLScalarVolumeNode1"}
        )
    ).json()
    ras_origin = (LPS_TO_RAS @ [10.5, -4.0, 3.0, 1.0])[:3]
    assert properties["vtkMRMLScalarVolumeNode1"]["Origin"] == ras_origin.tolist()


async def test_space_other_than_lps_is_read_and_served_in_lps(http_bridge, http_session):
    header = {
        "space": "right-anterior-superior",
        "space directions": np.diag([1.0, 1.0, 2.0]),
        "space origin": np.array([5.0, 6.0, 7.0]),
    }
    await post_volume(http_session, http_bridge, nrrd_bytes(sample_voxels(), header), id="RAS")
    _, served = parse(await get_volume(http_session, http_bridge, id="RAS"))
    assert np.array_equal(served["space directions"], np.diag([-1.0, -1.0, 2.0]))
    assert np.array_equal(served["space origin"], [-5.0, -6.0, 7.0])


async def test_upload_overwrites_a_match_or_creates_and_shows_the_volume(http_bridge, http_session):
    await post_volume(http_session, http_bridge, nrrd_bytes(sample_voxels()), id="First")
    await post_volume(http_session, http_bridge, nrrd_bytes(sample_voxels() * 2), id="Second")
    await post_volume(http_session, http_bridge, nrrd_bytes(sample_voxels() * 3), id="First")
    volumes = await (await http_session.get(http_bridge.url("/slicer/volumes"))).json()
    assert volumes == [
        {"name": "First", "id": "vtkMRMLScalarVolumeNode1"},
        {"name": "Second", "id": "vtkMRMLScalarVolumeNode2"},
    ]
    array, _ = parse(await get_volume(http_session, http_bridge, id="vtkMRMLScalarVolumeNode1"))
    assert np.array_equal(array, sample_voxels() * 3)
    red = await (
        await http_session.get(
            http_bridge.url("/slicer/mrml/properties"), params={"id": "vtkMRMLSliceNodeRed"}
        )
    ).json()
    assert red["vtkMRMLSliceNodeRed"]["BackgroundVolumeID"] == "vtkMRMLScalarVolumeNode1"
    # no id: the first scalar volume is overwritten, as in the original
    await post_volume(http_session, http_bridge, nrrd_bytes(sample_voxels() * 0))
    array, _ = parse(await get_volume(http_session, http_bridge))
    assert not array.any()


def header(*lines: str) -> bytes:
    return ("\n".join(("NRRD0004", *lines)) + "\n\n").encode()


SHORT_2X2X2 = ("type: short", "dimension: 3", "sizes: 2 2 2")
MALFORMED_UPLOADS = {
    "not-nrrd": (b"PNG\x00 this is not a NRRD at all", "cannot decode NRRD"),
    "sizes-mismatch": (
        header("type: short", "dimension: 3", "sizes: 2 2", "encoding: raw") + bytes(16),
        "",
    ),
    "bad-type": (header("type: quaternion", "dimension: 3", "sizes: 2 2 2", "encoding: raw"), ""),
    "truncated-raw": (
        header("type: short", "dimension: 3", "sizes: 4 4 4", "encoding: raw") + bytes(10),
        "",
    ),
    "truncated-gzip": (
        header(*SHORT_2X2X2, "encoding: gzip") + gzip.compress(bytes(16))[:-9],
        "",
    ),
    "vector": (
        header(
            "type: short",
            "dimension: 4",
            "sizes: 3 2 2 2",
            "kinds: vector domain domain domain",
            "encoding: raw",
            "endian: little",
        )
        + bytes(48),
        "scalar",
    ),
    "bad-space": (
        header(
            *SHORT_2X2X2,
            "space: left-up-front",
            "space directions: (1,0,0) (0,1,0) (0,0,1)",
            "encoding: raw",
            "endian: little",
        )
        + bytes(16),
        "space",
    ),
    "detached": (header(*SHORT_2X2X2, "encoding: raw", "data file: /etc/passwd"), "detached"),
}


@pytest.mark.parametrize(
    ("body", "fragment"), list(MALFORMED_UPLOADS.values()), ids=list(MALFORMED_UPLOADS)
)
async def test_malformed_uploads_are_400_and_change_nothing(
    http_bridge, http_session, body, fragment
):
    answer = await post_volume(http_session, http_bridge, body, status=400, id="Bad")
    import json

    message = json.loads(answer)["message"]
    assert "POST /slicer/volume" in message and fragment in message
    assert await (await http_session.get(http_bridge.url("/slicer/volumes"))).json() == []


async def test_unknown_volume_is_404_and_a_non_volume_too(http_bridge, http_session):
    async with http_session.get(http_bridge.url("/slicer/volume")) as response:
        assert response.status == 404
        assert response.headers["Content-Type"] == "application/json"
    async with http_session.get(
        http_bridge.url("/slicer/volume"), params={"id": "vtkMRMLSliceNodeRed"}
    ) as response:
        assert response.status == 404


async def test_labelmaps_are_listed_and_downloadable_by_id(http_bridge, http_session, tmp_path):
    path = write_nrrd_file(tmp_path / "Labels.nrrd", sample_voxels("uint8"))
    await http_session.post(
        http_bridge.url("/slicer/mrml"), params={"localfile": str(path), "labelmap": "true"}
    )
    volumes = await (await http_session.get(http_bridge.url("/slicer/volumes"))).json()
    assert volumes == [{"name": "Labels", "id": "vtkMRMLLabelMapVolumeNode1"}]
    data = await get_volume(http_session, http_bridge, id="vtkMRMLLabelMapVolumeNode1")
    assert b"type: unsigned char\n" in data
    async with http_session.head(
        http_bridge.url("/slicer/volume"), params={"id": "Labels"}
    ) as response:
        assert response.status == 200
        assert int(response.headers["Content-Length"]) == len(data)
        assert await response.read() == b""


async def test_volume_selection_cycles_and_refuses_unknown_commands(http_bridge, http_session):
    async with http_session.get(http_bridge.url("/slicer/volumeSelection")) as response:
        assert response.status == 400  # no volume yet
    for name in ("A", "B", "C"):
        await post_volume(http_session, http_bridge, nrrd_bytes(sample_voxels()), id=name)

    async def background() -> str:
        answer = await (
            await http_session.get(
                http_bridge.url("/slicer/mrml/properties"), params={"id": "vtkMRMLSliceNodeRed"}
            )
        ).json()
        return answer["vtkMRMLSliceNodeRed"]["BackgroundVolumeID"]

    shown = [await background()]
    for cmd in ("next", "next", "next", "previous"):
        async with http_session.get(
            http_bridge.url("/slicer/volumeSelection"), params={"cmd": cmd}
        ) as response:
            assert response.status == 200
            assert await response.text() == "Volume selected"
        shown.append(await background())
    assert [name[-1] for name in shown] == ["3", "1", "2", "3", "2"]
    async with http_session.get(
        http_bridge.url("/slicer/volumeSelection"), params={"cmd": "sideways"}
    ) as response:
        assert response.status == 400


def displacement_field_nrrd(field_ras: np.ndarray, **fields) -> bytes:
    """A displacement field as ITK writes one (pynrrd): LPS vectors first, oblique LPS grid."""
    header = oblique_lps_header()
    header["space directions"] = np.vstack([np.full(3, np.nan), header["space directions"]])
    header["kinds"] = ["vector", "domain", "domain", "domain"]
    flip = np.array([-1, -1, 1], dtype=field_ras.dtype)
    return nrrd_bytes(field_ras * flip, header, **fields)


def oblique_ijk_to_ras() -> np.ndarray:
    header = oblique_lps_header()
    matrix = np.eye(4)
    matrix[:3, :3] = np.asarray(header["space directions"]).T
    matrix[:3, 3] = header["space origin"]
    return LPS_TO_RAS @ matrix


async def post_grid(session, running, body: bytes, status: int = 200, **query) -> dict:
    async with session.post(
        running.url("/slicer/gridTransform"), params=query, data=body
    ) as response:
        assert response.status == status, await response.text()
        assert response.headers["Content-Type"] == "application/json"
        return await response.json()


async def test_grid_transforms_list_is_empty_and_unknown_ones_are_404(http_bridge, http_session):
    async with http_session.get(http_bridge.url("/slicer/gridTransforms")) as response:
        assert await response.json() == []
    async with http_session.get(http_bridge.url("/slicer/gridTransform")) as response:
        assert response.status == 404


async def test_uploaded_grid_transform_is_listed_and_downloads_bit_for_bit(
    http_bridge, http_session
):
    field = np.random.default_rng(3).normal(size=(*SHAPE_KJI, 3))
    answer = await post_grid(http_session, http_bridge, displacement_field_nrrd(field), id="Warp")
    assert answer["success"] is True and answer["id"].startswith("vtkMRMLGridTransformNode")
    async with http_session.get(http_bridge.url("/slicer/gridTransforms")) as response:
        assert await response.json() == [{"name": "Warp", "id": answer["id"]}]
    async with http_session.get(
        http_bridge.url("/slicer/gridTransform"), params={"id": "Warp"}
    ) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/octet-stream"
        data = await response.read()
    array, header = parse(data)
    assert data.startswith(b"NRRD0004\n") and header["type"] == "double"
    assert header["kinds"] == ["vector", "domain", "domain", "domain"]
    assert np.array_equal(array, field * [-1, -1, 1])  # LPS vectors, as uploaded
    assert np.allclose(header["space directions"][1:], oblique_lps_header()["space directions"])
    back = decode_grid_transform_nrrd(data)
    assert np.array_equal(back.displacements, field)
    assert np.allclose(back.ijk_to_ras, oblique_ijk_to_ras(), rtol=0, atol=1e-12)


async def test_grid_upload_replaces_the_first_grid_by_default_and_keeps_float32(
    http_bridge, http_session
):
    first = await post_grid(
        http_session, http_bridge, displacement_field_nrrd(np.zeros((*SHAPE_KJI, 3)))
    )
    assert http_bridge.bridge.scene.find(first["id"]).name == "GridTransform"
    field = np.full((*SHAPE_KJI, 3), 1.5, dtype=np.float32)
    again = await post_grid(http_session, http_bridge, displacement_field_nrrd(field))
    assert again["id"] == first["id"]
    stored = http_bridge.bridge.scene.grid_transform(first["id"]).displacements
    assert stored.dtype == np.float32 and np.array_equal(stored, field)
    async with http_session.get(http_bridge.url("/slicer/gridTransform")) as response:
        assert b"\ntype: float\n" in await response.read()


async def test_bad_grid_uploads_are_400_naming_the_problem(http_bridge, http_session, tmp_path):
    answer = await post_grid(http_session, http_bridge, b"NRRD0004\n", status=400)
    assert "POST /slicer/gridTransform" in answer["message"]
    volume = await post_grid(http_session, http_bridge, nrrd_bytes(sample_voxels()), status=400)
    assert "4-D NRRD" in volume["message"]
    await post_volume(http_session, http_bridge, nrrd_bytes(sample_voxels()), id="CT")
    field = displacement_field_nrrd(np.zeros((*SHAPE_KJI, 3)))
    volume_id = http_bridge.bridge.scene.find("CT").id
    wrong = await post_grid(http_session, http_bridge, field, status=400, id=volume_id)
    assert "not a grid transform" in wrong["message"]
    http_bridge.bridge.scene.set_transform("Linear", np.eye(4))
    linear = await post_grid(http_session, http_bridge, field, status=400, id="Linear")
    assert "grid transforms only" in linear["message"]


async def test_a_displacement_field_file_loads_through_mrml_as_a_grid_transform(
    http_bridge, http_session, tmp_path
):
    path = tmp_path / "Warp.nrrd"
    path.write_bytes(displacement_field_nrrd(np.ones((*SHAPE_KJI, 3))))
    async with http_session.post(
        http_bridge.url("/slicer/mrml"),
        params={"localfile": str(path), "filetype": "TransformFile"},
    ) as response:
        (node_id,) = (await response.json())["loadedNodeIDs"]
    async with http_session.get(http_bridge.url("/slicer/gridTransforms")) as response:
        assert await response.json() == [{"name": "Warp", "id": node_id}]


def test_grid_transform_nrrd_is_a_valid_4d_lps_nrrd_that_reads_back():
    rng = np.random.default_rng(1)
    field = rng.normal(size=(2, 3, 4, 3))
    angle = np.deg2rad(20)
    ijk_to_ras = np.eye(4)
    ijk_to_ras[:3, :3] = [
        [np.cos(angle), -np.sin(angle), 0],
        [np.sin(angle), np.cos(angle), 0],
        [0, 0, 1],
    ]
    ijk_to_ras[:3, :3] *= [2.0, 3.0, 4.0]
    ijk_to_ras[:3, 3] = [1.0, 2.0, 3.0]
    data = encode_grid_transform_nrrd(GridTransformData(field, ijk_to_ras))
    array, header = parse(data)
    assert header["dimension"] == 4 and list(header["sizes"]) == [3, 4, 3, 2]
    assert header["kinds"] == ["vector", "domain", "domain", "domain"]
    assert np.array_equal(array, field * [-1, -1, 1])
    back = decode_grid_transform_nrrd(data)
    assert np.array_equal(back.displacements, field)
    assert np.allclose(back.ijk_to_ras, ijk_to_ras, atol=0, rtol=1e-15)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_documented_curl_volume_download_verbatim(http_bridge, http_session, tmp_path):
    """`curl -v http://localhost:2016/slicer/volume\\&id='MRHead' -o /tmp/local.nrrd` (the
    module docs). The escaped `&` leaves no query string, so the first volume is served."""
    await post_volume(http_session, http_bridge, nrrd_bytes(sample_voxels()), id="MRHead")
    target = tmp_path / "local.nrrd"
    command = (
        r"curl -v http://localhost:2016/slicer/volume\&id='MRHead' -o /tmp/local.nrrd".replace(
            "localhost:2016", f"127.0.0.1:{http_bridge.port}"
        ).replace("/tmp/local.nrrd", str(target))
    )
    process = await asyncio.create_subprocess_shell(
        command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, log = await process.communicate()
    assert process.returncode == 0, log.decode()
    assert b"< HTTP/1.1 200" in log
    array, _ = parse(target.read_bytes())
    assert array.shape == SHAPE_KJI and np.array_equal(array, sample_voxels())
