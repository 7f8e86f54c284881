"""ITK text transforms: Slicer's LPS + resampling-sense convention, centres, composites, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.geometry import quaternion_to_rotation
from bridge.scene.io.transform_io import parse_tfm, read_tfm, write_tfm
from bridge.scene.types import SceneError

HEADER = "#Insight Transform File V1.0\n#Transform 0\n"


def itk_file(tmp_path, body: str, name: str = "t.tfm"):
    path = tmp_path / name
    path.write_text(HEADER + body, encoding="ascii")
    return path


def test_hand_written_file_with_centre_gives_expected_ras_matrix(tmp_path):
    """A = 90° about z (LPS), t = (1, 2, 3), c = (10, 20, 30).

    offset = t + c − A·c = (1, 2, 3) + (10, 20, 30) − (−20, 10, 30) = (31, 12, 3).
    From-parent in RAS = LPS·[A | offset]·LPS = [A | (−31, −12, 3)] (A is unchanged by
    flipping both x and y). To-parent is its inverse: [Aᵀ | −Aᵀ·(−31, −12, 3)] =
    [Aᵀ | (12, −31, −3)].
    """
    path = itk_file(
        tmp_path,
        "Transform: AffineTransform_double_3_3\n"
        "Parameters: 0 -1 0 1 0 0 0 0 1 1 2 3\n"
        "FixedParameters: 10 20 30\n",
    )
    expected = np.array(
        [[0.0, 1.0, 0.0, 12.0], [-1.0, 0.0, 0.0, -31.0], [0.0, 0.0, 1.0, -3.0], [0, 0, 0, 1]]
    )
    np.testing.assert_allclose(read_tfm(path), expected, atol=1e-12)


def test_translation_to_the_right_is_written_as_itk_does(tmp_path):
    """Moving +10 mm R (to parent) resamples from −10 mm R = +10 mm L: LPS x = +10."""
    matrix = np.eye(4)
    matrix[0, 3] = 10.0
    path = tmp_path / "right.tfm"
    write_tfm(path, matrix)

    lines = path.read_text(encoding="ascii").splitlines()
    assert lines[0] == "#Insight Transform File V1.0"
    assert "Transform: AffineTransform_double_3_3" in lines
    assert "Parameters: 1.0 0.0 0.0 0.0 1.0 0.0 0.0 0.0 1.0 10.0 0.0 0.0" in lines
    assert "FixedParameters: 0 0 0" in lines
    np.testing.assert_array_equal(read_tfm(path), matrix)


@pytest.mark.parametrize(
    "kind", ["AffineTransform_float_3_3", "MatrixOffsetTransformBase_double_3_3"]
)
def test_other_affine_spellings_read_the_same(tmp_path, kind):
    body = f"Transform: {kind}\nParameters: 2 0 0 0 3 0 0 0 4 5 6 7\nFixedParameters: 0 0 0\n"
    expected = np.linalg.inv(np.array([[2.0, 0, 0, -5], [0, 3, 0, -6], [0, 0, 4, 7], [0, 0, 0, 1]]))
    np.testing.assert_allclose(read_tfm(itk_file(tmp_path, body)), expected, atol=1e-12)


def test_translation_and_composite_transforms(tmp_path):
    translation = itk_file(
        tmp_path, "Transform: TranslationTransform_double_3\nParameters: 1 2 3\nFixedParameters:\n"
    )
    np.testing.assert_allclose(read_tfm(translation)[:3, 3], [1.0, 2.0, -3.0])

    composite = itk_file(
        tmp_path,
        "Transform: CompositeTransform_double_3_3\n"
        "#Transform 1\nTransform: AffineTransform_double_3_3\n"
        "Parameters: 2 0 0 0 2 0 0 0 2 0 0 0\nFixedParameters: 0 0 0\n"
        "#Transform 2\nTransform: TranslationTransform_double_3\n"
        "Parameters: 1 0 0\nFixedParameters:\n",
        name="composite.txt",
    )
    # ITK applies T0(T1(x)): scale after translate → x ↦ 2x + (2, 0, 0) in LPS.
    from_parent_lps = np.array([[2.0, 0, 0, 2], [0, 2, 0, 0], [0, 0, 2, 0], [0, 0, 0, 1]])
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    np.testing.assert_allclose(
        read_tfm(composite), np.linalg.inv(flip @ from_parent_lps @ flip), atol=1e-12
    )


finite = st.floats(-100, 100, allow_nan=False, allow_infinity=False)


@settings(max_examples=100, deadline=None)
@given(
    quaternion=st.lists(st.floats(-1, 1), min_size=4, max_size=4),
    scale=st.lists(st.floats(0.1, 10), min_size=3, max_size=3),
    translation=st.lists(finite, min_size=3, max_size=3),
)
def test_write_read_round_trip(tmp_path_factory, quaternion, scale, translation):
    if np.linalg.norm(quaternion) < 1e-3:
        quaternion = [1.0, 0.0, 0.0, 0.0]
    matrix = np.eye(4)
    matrix[:3, :3] = quaternion_to_rotation(*quaternion) * scale
    matrix[:3, 3] = translation
    path = tmp_path_factory.mktemp("tfm") / "round.tfm"

    write_tfm(path, matrix)

    np.testing.assert_allclose(read_tfm(path), matrix, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(
    ("name", "message"),
    [("t.h5", "HDF5 transform files are not supported.*h5py"), ("t.mat", "MATLAB")],
)
def test_binary_transform_formats_are_refused_with_reason(tmp_path, name, message):
    path = tmp_path / name
    path.write_bytes(b"\x89HDF\r\n")
    with pytest.raises(SceneError, match=message):
        read_tfm(path)
    with pytest.raises(SceneError, match=message):
        write_tfm(path, np.eye(4))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hello\n", "not an ITK transform file"),
        (HEADER, "no 'Transform:' entry"),
        (HEADER + "Parameters: 1 2 3\n", "before any 'Transform:'"),
        (HEADER + "Transform: AffineTransform_double_3_3\nParameters: 1 2\n", "expected 12"),
        (
            HEADER + "Transform: AffineTransform_double_3_3\nParameters: 1 0 0 0 1 0 0 0 x 0 0 0\n",
            "not a list of numbers",
        ),
        (
            HEADER + "Transform: BSplineTransform_double_3_3\nParameters: 1\n",
            "'BSplineTransform_double_3_3' is not supported",
        ),
        (
            HEADER + "Transform: AffineTransform_double_2_2\nParameters: 1 0 0 1 0 0\n",
            "not a 3-D double or float",
        ),
        (
            HEADER + "Transform: TranslationTransform_double_3\nParameters: 1 2 3\n"
            "Transform: TranslationTransform_double_3\nParameters: 1 2 3\n",
            "only one is allowed",
        ),
        (
            HEADER + "Transform: AffineTransform_double_3_3\nParameters: 0 0 0 0 0 0 0 0 0 1 2 3\n",
            "singular",
        ),
    ],
)
def test_malformed_files_say_what_is_wrong(text, message):
    with pytest.raises(SceneError, match=message):
        parse_tfm(text)


def test_singular_or_invalid_matrix_is_not_written(tmp_path):
    with pytest.raises(SceneError, match="singular"):
        write_tfm(tmp_path / "s.tfm", np.diag([1.0, 0.0, 1.0, 1.0]))
    with pytest.raises(SceneError, match="last row"):
        write_tfm(tmp_path / "r.tfm", np.ones((4, 4)))
