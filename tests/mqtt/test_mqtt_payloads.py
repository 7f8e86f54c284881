"""Topic scheme, payload decoding and options: the MQTT adapter's pure parts, no broker."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from adapters.mqtt import payloads
from adapters.mqtt.options import MqttOptions
from adapters.mqtt.topics import ROUTES, TopicScheme, is_topic_name, level_for
from bridge import commands as c
from bridge.config import ConfigError, Settings
from bridge.geometry import quaternion_to_rotation

ROOT = "slicer/test"
SHIFTED = [1, 0, 0, 5, 0, 1, 0, 6, 0, 0, 1, 7, 0, 0, 0, 1]


def decode(topic: str, body: object) -> c.Command:
    """Route and decode like the adapter does, building a deferred command at once."""
    match = TopicScheme(ROOT).match(f"{ROOT}/{topic}")
    assert match is not None, topic
    route, levels = match
    command = route.decode(levels, body, "mqtt")
    return command.build() if isinstance(command, c.Deferred) else command


def rejection(topic: str, body: object) -> c.CommandError:
    with pytest.raises(c.CommandError) as caught:
        decode(topic, body)
    return caught.value


# -- topics ------------------------------------------------------------------------------------


def test_subscriptions_are_the_route_patterns_under_the_root() -> None:
    assert TopicScheme(ROOT).subscriptions() == [f"{ROOT}/{route.pattern}" for route in ROUTES]
    assert f"{ROOT}/transform/+/set" in TopicScheme(ROOT).subscriptions()


@pytest.mark.parametrize(
    ("topic", "pattern", "levels"),
    [
        ("cmd/SetLayout", "cmd/+", ("SetLayout",)),
        ("transform/Tool/set", "transform/+/set", ("Tool",)),
        ("markups/F/set", "markups/+/set", ("F",)),
        ("camera/3d/set", "camera/+/set", ("3d",)),
    ],
)
def test_topics_match_their_route_and_capture_the_wildcard(topic, pattern, levels) -> None:
    route, captured = TopicScheme(ROOT).match(f"{ROOT}/{topic}")
    assert (route.pattern, captured) == (pattern, levels)


@pytest.mark.parametrize(
    "topic",
    [
        "slicer/other/cmd/SetLayout",
        f"{ROOT}/transform/Tool",
        f"{ROOT}/transform/Tool/get",
        f"{ROOT}/cmd/a/b",
        f"{ROOT}/status",
        ROOT,
    ],
)
def test_other_topics_match_no_route(topic) -> None:
    scheme = TopicScheme(ROOT)
    assert scheme.match(topic) is None
    assert scheme.match(topic) is None  # remembered answers are the same answers


def test_topic_names_and_levels() -> None:
    assert is_topic_name("replies/client-7")
    assert not is_topic_name("replies/+") and not is_topic_name("a/#") and not is_topic_name("")
    assert not is_topic_name(42)
    assert level_for("Tool", "vtkMRMLLinearTransformNode1") == "Tool"
    for awkward in ("a/b", "a+b", "#", ""):
        assert level_for(awkward, "vtkMRMLLinearTransformNode1") == "vtkMRMLLinearTransformNode1"


# -- …/transform/<node>/set in its three forms --------------------------------------------------


def test_transform_accepts_sixteen_numbers_row_major() -> None:
    command = decode("transform/Tool/set", SHIFTED)
    assert isinstance(command, c.SetTransform) and command.node == "Tool"
    np.testing.assert_array_equal(command.matrix, np.array(SHIFTED, float).reshape(4, 4))


def test_streamed_matrices_are_built_only_when_applied_with_the_same_key() -> None:
    match = TopicScheme(ROOT).match(f"{ROOT}/transform/Tool/set")
    lazy = match[0].decode(match[1], list(SHIFTED), "mqtt")
    assert isinstance(lazy, c.Deferred) and lazy.kind == "SetTransform"
    built = lazy.build()
    assert lazy.coalesce_key == built.coalesce_key == ("transform", "Tool")
    assert built.received == lazy.received and built.source == "mqtt"


def test_transform_accepts_a_nested_matrix_and_a_matrix_field() -> None:
    nested = np.array(SHIFTED, float).reshape(4, 4).tolist()
    for body in (nested, {"matrix": nested}, {"matrix": SHIFTED, "id": "7"}):
        command = decode("transform/Tool/set", body)
        np.testing.assert_array_equal(command.matrix, np.array(nested))
    assert decode("transform/Tool/set", {"matrix": SHIFTED, "id": "7"}).id == "7"


def test_transform_accepts_position_and_quaternion() -> None:
    half = math.sqrt(0.5)
    command = decode(
        "transform/Tool/set", {"position": [1, 2, 3], "quaternion": [half, 0, 0, half]}
    )
    np.testing.assert_allclose(command.matrix[:3, :3], quaternion_to_rotation(half, 0, 0, half))
    np.testing.assert_allclose(
        command.matrix[:3, :3], [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12
    )
    np.testing.assert_array_equal(command.matrix[:3, 3], [1, 2, 3])
    position_only = decode("transform/Tool/set", {"position": [1, 2, 3]})
    np.testing.assert_array_equal(position_only.matrix[:3, :3], np.eye(3))


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (SHIFTED[:15], "matrix", "expected shape 4×4, got 15"),
        ([*SHIFTED[:12], 1, 0, 0, 1], "matrix", "last row"),
        (["a"] * 16, "matrix", "not numeric"),
        ({"position": [1, 2]}, "position", "expected shape 3"),
        ({"quaternion": [0, 0, 0, 0]}, "quaternion", "non-zero"),
        ({"quaternion": [1, 0, 0]}, "quaternion", "expected shape 4"),
        ({"matrix": SHIFTED, "node": "Other"}, "node", "named by the topic"),
        ({"rotation": [1, 0, 0, 0]}, None, "rotation"),
        ({"matrix": SHIFTED, "scale": 2}, None, "unknown field(s) scale"),
        ("four by four", None, "got a string"),
        (None, None, "got an empty payload"),
    ],
)
def test_malformed_transforms_are_refused_naming_the_field(body, field, words) -> None:
    error = rejection("transform/Tool/set", body)
    assert error.command == "SetTransform" and error.field == field
    assert words in str(error)


def test_only_certainly_valid_matrices_are_deferred() -> None:
    assert payloads._certainly_a_matrix(list(SHIFTED))
    assert payloads._certainly_a_matrix([1.0, 0, 0, 0.5] * 3 + [0, 0, 0, 1])
    for doubtful in (SHIFTED[:15], [True, *SHIFTED[1:]], [*SHIFTED[:12], 0, 0, 0, 2]):
        assert not payloads._certainly_a_matrix(list(doubtful))


# -- markups, camera, commands ------------------------------------------------------------------


def test_markups_accepts_a_point_list_or_points_and_labels() -> None:
    command = decode("markups/F/set", [[1, 2, 3], [4, 5, 6]])
    assert isinstance(command, c.SetMarkupsPoints) and command.node == "F"
    assert command.points.shape == (2, 3)
    labelled = decode("markups/F/set", {"points": [[1, 2, 3]], "labels": ["tip"]})
    assert labelled.labels == ("tip",)
    assert rejection("markups/F/set", [[1, 2]]).field == "points"
    assert rejection("markups/F/set", {"points": [[1, 2, 3]], "labels": []}).field == "labels"


def test_camera_takes_the_view_from_the_topic() -> None:
    body = {"position": [0, -500, 0], "focal_point": [0, 0, 0], "view_up": [0, 0, 1]}
    command = decode("camera/3d/set", body)
    assert isinstance(command, c.SetCamera) and command.view == "3d"
    assert rejection("camera/red/set", body).field == "view"
    assert rejection("camera/3d/set", {**body, "view": "3d"}).field == "view"
    assert rejection("camera/3d/set", {**body, "focal_point": [0, -500, 0]}).field == "focal_point"


def test_cmd_topic_names_the_command_and_the_payload_holds_its_fields() -> None:
    assert decode("cmd/SetLayout", {"layout": "fourup"}).layout == "FourUp"
    assert decode("cmd/SetLayout", {"command": "SetLayout", "layout": "FourUp", "id": 3}).id == "3"
    assert isinstance(decode("cmd/Shutdown", None), c.Shutdown)
    assert "unknown command 'Frobnicate'" in str(rejection("cmd/Frobnicate", {}))
    assert "names command 'SetCamera'" in str(rejection("cmd/SetLayout", {"command": "SetCamera"}))
    assert rejection("cmd/SetLayout", {}).field == "layout"
    assert "unknown field(s) colour" in str(
        rejection("cmd/SetLayout", {"layout": "x", "colour": 1})
    )
    assert "JSON object" in str(rejection("cmd/SetLayout", [1, 2]))


@pytest.mark.parametrize("payload", [b"{", b"[1, 2,", b"NaN", b"[1e999]", b"\xff\xfe"])
def test_payloads_that_are_not_json_are_refused(payload) -> None:
    with pytest.raises(payloads.PayloadError, match="not valid JSON"):
        payloads.parse_json(payload)
    assert payloads.parse_json(b"") is None


def test_published_json_serialises_numpy() -> None:
    assert payloads.encode_json({"m": np.eye(2)}) == b'{"m":[[1.0,0.0],[0.0,1.0]]}'


# -- options -----------------------------------------------------------------------------------


def test_options_from_default_settings() -> None:
    options = MqttOptions.from_settings(Settings())
    assert (options.host, options.port, options.tls, options.protocol) == (
        "127.0.0.1",
        1883,
        False,
        "5",
    )
    assert options.topic_root == "slicer/default"
    assert options.client_id == "slicer-bridge-default"


def settings_of(**values) -> Settings:
    """Real bridge settings (their own checks run too, as on the command line)."""
    return Settings(**values)


def test_options_read_every_mqtt_setting_when_declared() -> None:
    settings = settings_of(
        mqtt_url="mqtts://robot:s3cr%40t@broker.example:8884",
        instance="or2",
        mqtt_protocol="3.1.1",
        mqtt_topic_root="hospital/or2/slicer",
        mqtt_ca_file=Path("/etc/ca.pem"),
        mqtt_keepalive=10,
        mqtt_state_rate=5.0,
        mqtt_max_payload=1000,
    )
    options = MqttOptions.from_settings(settings)
    assert (options.host, options.port, options.tls) == ("broker.example", 8884, True)
    assert (options.username, options.password) == ("robot", "s3cr@t")
    assert options.protocol == "3.1.1" and options.topic_root == "hospital/or2/slicer"
    assert (options.keepalive, options.state_rate, options.max_payload) == (10, 5.0, 1000)
    assert options.client_id == "slicer-bridge-or2"
    assert "s3cr" not in options.url and options.url == "mqtts://robot@broker.example:8884"


def test_explicit_credentials_win_over_the_url() -> None:
    settings = settings_of(
        mqtt_url="mqtt://a:b@h", instance="i", mqtt_username="u", mqtt_password="p"
    )
    options = MqttOptions.from_settings(settings)
    assert (options.username, options.password, options.port) == ("u", "p", 1883)


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"mqtt_protocol": "6"}, "must be 5 or 3.1.1"),
        ({"mqtt_url": "http://h"}, "must start with mqtt:// or mqtts://"),
        ({"mqtt_url": "mqtt://h:port"}, "invalid port"),
        ({"mqtt_url": "mqtt://h/topic"}, "no path"),
        ({"mqtt_topic_root": "a/+/b"}, "without + #"),
        ({"mqtt_topic_root": "a/"}, "start or end"),
        ({"mqtt_certfile": Path("c.pem")}, "both"),
    ],
)
def test_bad_mqtt_settings_are_config_errors(settings, words) -> None:
    with pytest.raises(ConfigError, match=words.replace("+", r"\+")):
        MqttOptions.from_settings(settings_of(**{"mqtt_url": "mqtt://h", **settings}))
