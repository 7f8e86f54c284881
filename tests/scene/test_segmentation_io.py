"""`.seg.nrrd` ↔ `SegmentationData`: Slicer's layout read (shared layers, label values,
extents, offset, tags), written back as Slicer writes it, and malformed files refused."""

from __future__ import annotations

import warnings

import nrrd
import numpy as np
import pytest
from slicer_files import (
    CONVERSION_PARAMETERS,
    IJK_TO_LPS,
    IJK_TO_RAS,
    SEG_SEGMENTS,
    SEG_SHAPE,
    seg_masks,
    write_seg_nrrd,
)

from bridge.scene.io.segmentation_nrrd import read_segmentation_nrrd, write_segmentation_nrrd
from bridge.scene.types import SceneError, Segment, SegmentationData


def test_slicer_seg_nrrd_with_shared_layers_reads_every_segment(tmp_path):
    data = read_segmentation_nrrd(write_seg_nrrd(tmp_path / "Abdomen.seg.nrrd"))
    assert data.name == "Abdomen" and data.shape == SEG_SHAPE
    assert np.allclose(data.ijk_to_ras, IJK_TO_RAS, rtol=0, atol=1e-12)
    masks = seg_masks()
    assert [s.id for s in data.segments] == ["Segment_1", "Segment_2", "Segment_3"]
    for segment, (segment_id, name, color, _, label, _) in zip(
        data.segments, SEG_SEGMENTS, strict=True
    ):
        assert (segment.name, segment.color, segment.label_value) == (name, color, label)
        assert np.array_equal(segment.mask, masks[segment_id]), segment_id
    assert data.segments[2].tags == {"Segmentation.Status": "done"}
    assert data.segments[0].tags["TerminologyEntry"].endswith("~^^~^^")
    assert data.metadata["Segmentation_ConversionParameters"] == CONVERSION_PARAMETERS
    assert data.reference_extent_offset == (0, 0, 0)


def test_single_layer_seg_nrrd_is_three_dimensional_and_reads_the_same(tmp_path):
    path = write_seg_nrrd(tmp_path / "two.seg.nrrd", single_layer=True, encoding="raw")
    assert nrrd.read_header(str(path))["dimension"] == 3
    data = read_segmentation_nrrd(path)
    assert [s.name for s in data.segments] == ["Liver", "Tumor"]
    assert np.array_equal(data.segments[1].mask, seg_masks()["Segment_2"])


def test_segment_voxels_outside_its_extent_are_not_part_of_it(tmp_path):
    path = write_seg_nrrd(tmp_path / "clip.seg.nrrd", extents={"Segment_1": "1 2 1 4 1 3"})
    liver = read_segmentation_nrrd(path).segment("Segment_1")
    expected = seg_masks()["Segment_1"].copy()
    expected[:, :, 3:] = False  # i beyond 2
    assert np.array_equal(liver.mask, expected)
    empty = write_seg_nrrd(tmp_path / "empty.seg.nrrd", extents={"Segment_2": "0 -1 0 -1 0 -1"})
    assert not read_segmentation_nrrd(empty).segment("Segment_2").mask.any()


def test_written_segmentation_reads_back_and_has_slicers_fields(tmp_path):
    source = read_segmentation_nrrd(write_seg_nrrd(tmp_path / "in.seg.nrrd", offset=(4, 0, 2)))
    target = tmp_path / "out.seg.nrrd"
    write_segmentation_nrrd(target, source)
    header = nrrd.read_header(str(target))
    assert header["kinds"] == ["list", "domain", "domain", "domain"]
    assert header["space"] == "left-posterior-superior"
    assert np.allclose(header["space directions"][1:], IJK_TO_LPS[:3, :3].T)
    assert list(header["sizes"]) == [2, 8, 7, 6]  # Liver+Tumor share layer 0, Vessel in 1
    assert [header[f"Segment{n}_Layer"] for n in range(3)] == ["0", "0", "1"]
    assert header["Segment1_LabelValue"] == "2" and header["Segment0_Extent"] == "1 5 1 4 1 3"
    assert header["Segmentation_MasterRepresentation"] == "Binary labelmap"
    assert header["Segmentation_ReferenceImageExtentOffset"] == "4 0 2"
    assert header["Segment2_Tags"] == "Segmentation.Status:done|"
    back = read_segmentation_nrrd(target)
    assert back.reference_extent_offset == (4, 0, 2)
    assert back.metadata == source.metadata
    assert np.allclose(back.ijk_to_ras, source.ijk_to_ras, rtol=0, atol=1e-12)
    for before, after in zip(source.segments, back.segments, strict=True):
        assert (before.id, before.name, before.color, before.label_value, before.tags) == (
            after.id,
            after.name,
            after.color,
            after.label_value,
            after.tags,
        )
        assert np.array_equal(before.mask, after.mask)


def test_overlapping_segments_with_one_label_value_get_separate_layers(tmp_path):
    full = np.ones((2, 2, 2), dtype=bool)
    segments = tuple(
        Segment(id=f"S{n}", name=f"S{n}", color=(1.0, 0.0, 0.0), mask=full) for n in range(3)
    )
    data = SegmentationData(segments=segments, ijk_to_ras=np.eye(4), shape=(2, 2, 2))
    write_segmentation_nrrd(tmp_path / "o.seg.nrrd", data, compress=False)
    back = read_segmentation_nrrd(tmp_path / "o.seg.nrrd")
    assert nrrd.read_header(str(tmp_path / "o.seg.nrrd"))["sizes"][0] == 3
    assert all(segment.mask.all() for segment in back.segments)


def test_a_segmentation_without_segments_keeps_its_grid(tmp_path):
    data = SegmentationData(segments=(), ijk_to_ras=IJK_TO_RAS, shape=(2, 3, 4))
    write_segmentation_nrrd(tmp_path / "none.seg.nrrd", data)
    back = read_segmentation_nrrd(tmp_path / "none.seg.nrrd")
    assert back.segments == () and back.shape == (2, 3, 4)


def test_a_plain_labelmap_becomes_one_segment_per_label(tmp_path):
    labels = np.zeros((3, 3, 3), dtype=np.int16)
    labels[0] = 5
    labels[2, 2] = 1
    path = tmp_path / "labels.nrrd"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        nrrd.write(str(path), labels, {"spacings": [1.0, 1.0, 1.0]}, index_order="C")
    data = read_segmentation_nrrd(path)
    assert [(s.id, s.name, s.label_value) for s in data.segments] == [
        ("Segment_1", "Segment_1", 1),
        ("Segment_5", "Segment_5", 5),
    ]
    assert data.segments[0].color == pytest.approx((128 / 255, 174 / 255, 128 / 255))
    assert np.array_equal(data.segments[1].mask, labels == 5)


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"Segment0_Layer": "7"}, "layer 7 is not one of"),
        ({"Segment0_Extent": "0 1 2"}, "extent: expected 6 whole numbers"),
        ({"Segment0_Color": "red"}, "colour must be three numbers"),
        ({"Segmentation_ReferenceImageExtentOffset": "1 2"}, "expected 3 whole numbers"),
    ],
)
def test_malformed_segment_fields_are_refused_naming_them(tmp_path, fields, fragment):
    path = write_seg_nrrd(tmp_path / "bad.seg.nrrd")
    array, header = nrrd.read(str(path), index_order="C")
    header.update(fields)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        nrrd.write(str(path), array, header, index_order="C")
    with pytest.raises(SceneError, match=fragment):
        read_segmentation_nrrd(path)


def test_five_dimensional_nrrds_are_not_segmentations(tmp_path):
    path = tmp_path / "five.seg.nrrd"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        nrrd.write(
            str(path),
            np.zeros((2, 2, 2, 2, 2), dtype=np.uint8),
            {"kinds": ["list", "list", "domain", "domain", "domain"]},
            index_order="C",
        )
    with pytest.raises(SceneError, match="a segmentation is a 3-D NRRD"):
        read_segmentation_nrrd(path)
