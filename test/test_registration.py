"""Registration: homography parameters are checked, views are warped into camera 0 (also after a reduced-scale
decode), and `fusionvae_bag register` recovers known homographies from a real bag of warped views."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from registration_helpers import TRUE_HOMOGRAPHIES, corner_error, seen_by, textured_scene
from std_msgs.msg import Header

from fusionvae_ros.bag.__main__ import main as bag_main
from fusionvae_ros.bag.bag_files import IMAGE_TYPE, OutputBag, ns_to_stamp, serialize_message
from fusionvae_ros.image_codec import encode_image
from fusionvae_ros.registration import IDENTITY, RegistrationError, ViewRegistration, parse_homography

WIDTH, HEIGHT = 640, 480
CORNER_ERROR_BOUND_PX = 0.25  # measured 0.01-0.04 px on these views (3 pairs: 0.031, 0.016)


def test_identity_and_bad_matrices():
    assert parse_homography("homography_1", list(IDENTITY)) is None
    assert parse_homography("homography_1", [2.0, 0, 0, 0, 2.0, 0, 0, 0, 2.0]) is None  # scale-free: identity
    for bad in ([1.0] * 8, [0.0] * 9, [1.0, 0, 0, 0, 1, 0, 0, 0, float("nan")], [1.0, 2, 3, 2, 4, 6, 0, 0, 1]):
        with pytest.raises(RegistrationError, match="homography_2"):
            parse_homography("homography_2", bad)


def test_warp_undoes_the_camera_homography_also_at_reduced_scale():
    reference = textured_scene(WIDTH, HEIGHT)[..., np.newaxis]
    registration = ViewRegistration({1: TRUE_HOMOGRAPHIES[1]})
    view = seen_by(reference, TRUE_HOMOGRAPHIES[1])
    warped = registration.warp(1, view, (WIDTH, HEIGHT))
    inner = (slice(60, -60), slice(60, -60))  # away from the borders camera 1 does not see
    assert np.abs(warped[inner].astype(int) - reference[inner]).mean() < 3
    half = view[::2, ::2]  # a 1/2-scale decode of the same camera image
    warped_half = registration.warp(1, half, (WIDTH, HEIGHT))
    assert np.abs(warped_half[30:-30, 30:-30].astype(int) - reference[::2, ::2][30:-30, 30:-30]).mean() < 6
    assert registration.warp(0, view, (WIDTH, HEIGHT)) is view


@pytest.fixture(scope="module")
def registration_bag(tmp_path_factory):
    """Three mono8 cameras, five frames: camera 0 sees the scene, cameras 1 and 2 see it through TRUE_HOMOGRAPHIES."""
    path = tmp_path_factory.mktemp("register") / "cameras"
    with OutputBag(path) as bag:
        topics = [f"/camera_{camera}/image_raw" for camera in range(3)]
        for topic in topics:
            bag.add_topic(topic, IMAGE_TYPE)
        for frame in range(5):
            reference = textured_scene(WIDTH, HEIGHT, seed=frame)[..., np.newaxis]
            stamp = 1_700_000_000_000_000_000 + frame * 100_000_000
            views = [reference, *(seen_by(reference, TRUE_HOMOGRAPHIES[camera]) for camera in (1, 2))]
            for camera, view in enumerate(views):
                header = Header(stamp=ns_to_stamp(stamp + camera * 1_000_000), frame_id=f"camera_{camera}")
                bag.write(topics[camera], stamp, serialize_message(encode_image(view, header)))
    return path


@pytest.mark.slow
def test_register_recovers_known_homographies(registration_bag, tmp_path, capsys):
    output = tmp_path / "registration.yaml"
    assert bag_main(["register", str(registration_bag), "-o", str(output), "--max-pairs", "3"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("reprojection error mean") == 2 and "camera 2 (/camera_2/image_raw)" in printed
    parameters = yaml.safe_load(output.read_text())["/**"]["ros__parameters"]
    for camera, true in TRUE_HOMOGRAPHIES.items():
        values = parameters[f"homography_{camera}"]
        assert len(values) == 9 and all(isinstance(value, float) for value in values), "floats: a double array"
        error = corner_error(np.reshape(values, (3, 3)), true, WIDTH, HEIGHT)
        assert error < CORNER_ERROR_BOUND_PX, f"camera {camera}: corners off by {error:.3f} px"


def test_register_refuses_views_without_texture(tmp_path, capsys):
    path = tmp_path / "flat"
    with OutputBag(path) as bag:
        for camera in range(2):
            bag.add_topic(f"/camera_{camera}/image_raw", IMAGE_TYPE)
            flat = np.full((HEIGHT, WIDTH, 1), 90, np.uint8)
            bag.write(f"/camera_{camera}/image_raw", 1, serialize_message(encode_image(flat, Header())))
    assert bag_main(["register", str(path), "-o", str(tmp_path / "r.yaml")]) == 2
    assert "feature matches" in capsys.readouterr().err and not (tmp_path / "r.yaml").exists()
