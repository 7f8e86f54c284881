"""The live channel's parts without a socket: subjects, stream options, which views a change
touches, the frame format, and JPEG encoding of a view."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from adapters.http.ws_streams import (
    StreamError,
    pack_frame,
    parse_size,
    parse_stream_request,
    unpack_frame,
    views_touched,
)
from adapters.http.ws_subjects import SubjectError, Subscriptions, parse_subject
from bridge.scene.headless import HeadlessScene
from bridge.scene.types import SceneError, SceneEvent
from bridge.scene.view_images import render_view, transcode_png


@pytest.mark.parametrize(
    ("text", "subject", "pattern"),
    [
        ("nodes", "nodes", False),
        ("Layout", "layout", False),
        ("transform:Tracker", "transform:Tracker", False),
        ("markups:*", "markups:*", True),
        ("transform:vtkMRMLLinearTransformNode?", "transform:vtkMRMLLinearTransformNode?", True),
        ("view:Red", "view:red", False),
        ("view:1", "view:3d", False),
        ("view:*", "view:*", True),
    ],
)
def test_subjects_parse_to_their_canonical_form(text, subject, pattern):
    parsed = parse_subject(text)
    assert parsed.subject == subject
    assert parsed.is_pattern is pattern


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("volume:X", "unknown subject"),
        ("nodes:x", "takes no name"),
        ("markups:", "needs a name"),
        ("view:purple", "unknown view"),
        ("", "non-empty string"),
        (7, "non-empty string"),
    ],
)
def test_bad_subjects_say_what_is_wrong(text, message):
    with pytest.raises(SubjectError, match=message):
        parse_subject(text)


def test_a_renamed_node_is_reported_gone_under_its_old_name_and_new_under_its_new_one():
    scene = HeadlessScene()
    scene.set_transform("Probe", np.eye(4))
    followed = Subscriptions(scene)
    followed.add([parse_subject("transform:*")])
    assert followed.take_dirty() == ["transform:Probe"]
    assert followed.state("transform:Probe")[1] is not None
    events: list[SceneEvent] = []
    scene.subscribe(events.append)
    scene.rename("Probe", "Stylus")
    for event in events:
        followed.on_event(event)
    assert set(followed.take_dirty()) == {"transform:Probe", "transform:Stylus"}
    assert followed.state("transform:Probe") == (None, None)
    node, state = followed.state("transform:Stylus")
    assert node is not None and node.name == "Stylus" and state["linear"] is True


def test_stream_requests_parse_with_defaults_and_bounds():
    options, window = parse_stream_request({"stream": "view:Yellow"})
    assert (options.view, options.format, options.size, window) == ("yellow", "png", None, 1)
    options, window = parse_stream_request(
        {"stream": "view:3d", "format": "JPG", "quality": 55, "size": "320x200", "max_in_flight": 4}
    )
    assert (options.format, options.quality, options.size, window) == ("jpeg", 55, (320, 200), 4)
    assert parse_size([64, 32]) == (64, 32)
    for bad in (0, 5000, [1, 2, 3], "big", True, 2.5):
        with pytest.raises(StreamError):
            parse_size(bad)


def test_a_frame_is_a_length_prefixed_json_header_and_the_image():
    header = {"stream": "view:red", "seq": 3, "applied": "7"}
    message = pack_frame(header, b"\x89PNG...")
    assert int.from_bytes(message[:4], "big") == len(message) - 4 - len(b"\x89PNG...")
    assert unpack_frame(message) == (header, b"\x89PNG...")


def test_changes_touch_only_the_views_that_show_them():
    scene = HeadlessScene()
    events: list[SceneEvent] = []
    scene.subscribe(events.append)

    def touched(action) -> set[str]:
        events.clear()
        action()
        return {view for event in events for view in views_touched(scene, event)}

    assert touched(lambda: scene.set_slice_offset("yellow", 4.0)) == {"yellow"}
    assert touched(lambda: scene.set_camera("3d", [0, 0, 500], [0, 0, 0], [0, 1, 0])) == {"3d"}
    assert touched(lambda: scene.set_markups_points("F", np.zeros((1, 3)))) == {"3d"}
    assert touched(lambda: scene.set_transform("Free", np.eye(4))) == {"3d"}
    volume = scene.set_volume("V", np.ones((4, 5, 6), np.int16), np.eye(4))
    assert touched(lambda: scene.set_layout("FourUp")) == set()
    scene.set_transform("Holder", np.eye(4))
    scene.set_parent_transform(volume.id, "Holder")
    assert touched(lambda: scene.set_transform("Holder", np.eye(4))) == {
        "3d",
        "red",
        "yellow",
        "green",
    }


def test_jpeg_views_keep_grey_grey_and_refuse_bad_quality():
    scene = HeadlessScene()
    _, j, i = np.indices((8, 32, 32))
    scene.set_volume("V", (i * 4 + j).astype(np.int16), np.eye(4))
    jpeg = render_view(scene, "red", format="jpeg", quality=70, size=32)
    with Image.open(io.BytesIO(jpeg)) as image:
        assert image.format == "JPEG" and image.mode == "L" and image.size == (32, 32)
    threed = render_view(scene, "3d", format="jpg", size=(40, 20))
    with Image.open(io.BytesIO(threed)) as image:
        assert image.mode == "RGB" and image.size == (40, 20)
    png = render_view(scene, "red", size=32)
    assert png == scene.render_slice("red", 32)
    with pytest.raises(SceneError, match="quality"):
        transcode_png(png, "jpeg", 0)
    with pytest.raises(SceneError, match="unknown image format"):
        render_view(scene, "red", format="gif")
