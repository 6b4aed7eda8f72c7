"""Tests of the simulated cameras: image folders, looping video files and scripted scenes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from devices.camera.errors import SourceUnavailable
from devices.camera.scene import Keyframe, Scene, face_width_px, paste_face, astronaut_face, shopper_walk
from devices.camera.simulated import FolderSource, SceneSource, VideoFileSource, folder_camera, scene_camera, video_camera


def marker(image: np.ndarray) -> int:
    return int(image[0, 0, 0])


def test_folder_source_cycles_in_name_order_and_holds_on_request(image_folder: Path) -> None:
    source = FolderSource(image_folder)
    source.open()
    assert source.names == ["a.png", "b.png", "c.png"]
    assert [marker(source.read()) for _ in range(4)] == [20, 40, 60, 20]
    source.show("c.png")
    assert [marker(source.read()) for _ in range(3)] == [60, 60, 60]
    source.show(0)
    assert marker(source.read()) == 20
    source.show(None)
    assert marker(source.read()) == 40


def test_folder_source_resizes(image_folder: Path) -> None:
    source = FolderSource(image_folder, size=(32, 24))
    source.open()
    assert source.read().shape == (24, 32, 3)


def test_empty_folder_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable):
        FolderSource(tmp_path).open()
    with pytest.raises(SourceUnavailable):
        FolderSource(tmp_path / "missing").open()


def test_folder_camera_delivers_frames(image_folder: Path) -> None:
    with folder_camera(image_folder, fps=50) as cam:
        frame = cam.wait_newer(0, timeout=5.0)
        assert frame is not None and frame.image.shape == (48, 64, 3)
        later = cam.wait_newer(frame.seq, timeout=5.0)
        assert later is not None and later.seq > frame.seq


def test_video_file_source_loops(write_video) -> None:
    source = VideoFileSource(write_video(frames=3))
    source.open()
    try:
        frames = [source.read() for _ in range(7)]
    finally:
        source.close()
    assert all(f.shape == (48, 64, 3) for f in frames)
    # MJPG is lossy: compare the marker approximately, frame 4 equals frame 1 after the rewind
    assert abs(marker(frames[3]) - marker(frames[0])) <= 3
    assert abs(marker(frames[1]) - marker(frames[0])) >= 10


def test_video_camera_streams(write_video) -> None:
    with video_camera(write_video(frames=3), fps=50) as cam:
        frame = cam.wait_newer(0, timeout=5.0)
        assert frame is not None
        assert cam.wait_newer(frame.seq + 3, timeout=5.0) is not None  # past the end: it loops
        assert cam.health.ok


def test_scene_is_a_pure_function_of_time() -> None:
    scene = Scene([shopper_walk()], width=320, height=240)
    a, boxes_a = scene.render(4.0)
    b, boxes_b = scene.render(4.0)
    assert np.array_equal(a, b) and boxes_a == boxes_b
    assert a.shape == (240, 320, 3)
    assert scene.render(-1.0)[1] == [] and scene.render(scene.duration + 1)[1] == []


def test_scene_face_width_follows_the_script() -> None:
    script = [Keyframe(0.0, 320, 240, 40.0), Keyframe(2.0, 320, 240, 80.0)]
    scene = Scene([script])
    for t, width in [(0.0, 40), (1.0, 60), (2.0, 80)]:
        (box,) = scene.render(t)[1]
        assert abs(box[2] - width) <= 1
        assert abs(box[0] + box[2] / 2 - 320) <= 2


def test_turned_head_has_no_face_box() -> None:
    canvas = np.zeros((240, 320, 3), np.uint8)
    assert paste_face(canvas, astronaut_face(), 160, 120, 50, yaw_deg=90) is None
    assert canvas.any()  # the back of the head is drawn


def test_face_width_px_matches_the_pinhole_figure_of_the_brief() -> None:
    assert abs(face_width_px(1.5) - 46) < 1  # 640 px, 70°, 0.15 m face at 1.5 m


def test_scene_camera_advances_scene_time_per_frame() -> None:
    source = SceneSource(Scene([shopper_walk()]), fps=10, loop=False)
    source.read()
    source.read()
    assert source.scene_time == pytest.approx(0.2)
    assert len(source.truth) == 1
    with scene_camera(Scene([shopper_walk()], width=160, height=120), fps=30, clock=lambda: 42.0) as cam:
        frame = cam.wait_newer(0, timeout=5.0)
        assert frame is not None and frame.ts == 42.0 and frame.image.shape == (120, 160, 3)
