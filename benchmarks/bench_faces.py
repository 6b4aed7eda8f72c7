"""Face detector benchmark: precision/recall by face size band on the shared set and the synthetic set
(benchmarks/faces_accuracy.py), recall by distance, FPS on one core, idle CPU share, camera-health cost,
and the video benchmark: the screen pipeline against OpenCV's FaceDetectorYN detecting every frame on a
scripted scene of six shoppers, frames per CPU-second and the counts and dwell of each against the script.

Run from the repository root:  .venv/bin/python benchmarks/bench_faces.py
Reads ../shared beside the repository (data set, and OpenCV's YuNet ONNX for comparison only); the product never loads either.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from devices.camera.scene import (  # noqa: E402
    FaceSprite, Scene, astronaut_face, face_width_px, focal_px, paste_face, pose_at, shop_background,
    shopper_walk, store_visitors,
)
from devices.camera.simulated import scene_camera  # noqa: E402
from edge.screen.detector import MODEL_MIN_FACE_PX, Face, YuNetDetector  # noqa: E402
from benchmarks.faces_accuracy import accuracy_parts  # noqa: E402
from edge.screen.camera_health import CameraHealth  # noqa: E402
from edge.screen.evaluation import load_ground_truth, loose_match  # noqa: E402
from edge.screen.measures import AudienceConfig, AudienceMeter  # noqa: E402
from edge.screen.motion import MotionGate  # noqa: E402
from edge.screen.pipeline import ScreenPipeline  # noqa: E402
from edge.screen.tracker import Tracker  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"
FACES = SHARED / "datasets/faces"
ONNX = SHARED / "models/faces/face_detection_yunet_2023mar.onnx"
W, H, HFOV = 640, 480, 70.0


def sprites() -> list[FaceSprite]:
    """The astronaut plus the large consensus faces of the shared set, each with a margin around the box."""
    out = [astronaut_face()]
    if not FACES.is_dir():
        return out
    for name, boxes in load_ground_truth(FACES / "ground_truth.csv").items():
        if not name.startswith("fr_") or len(boxes) != 1:
            continue
        image = cv2.imread(str(FACES / "images" / name))
        x, y, w, h = (int(v) for v in boxes[0])
        mx, my = int(w * 0.35), int(h * 0.3)
        x0, y0 = max(0, x - mx), max(0, y - my)
        crop = np.ascontiguousarray(image[y0 : y + h + my, x0 : x + w + mx])
        out.append(FaceSprite(crop, (x - x0, y - y0, w, h)))
    return out


def backgrounds(n: int) -> list[np.ndarray]:
    """Shop photos of the grocery negatives, resized to 640×480, or synthetic shelves without the shared set."""
    photos = sorted(FACES.glob("images/grocery_*.jpg")) if FACES.is_dir() else []
    out = [cv2.resize(cv2.imread(str(p)), (W, H), interpolation=cv2.INTER_AREA) for p in photos]
    return (out + [shop_background(W, H, seed=i) for i in range(n)])[:n]


def recall_by_distance(min_face_px: int, distances: tuple[float, ...] = (1.0, 1.5, 3.0), trials: int = 6) -> dict:
    """Share of pasted faces found (loose rule) at each distance, over several faces, places and backgrounds."""
    det = YuNetDetector(min_face_px=min_face_px)
    rng = np.random.default_rng(7)
    faces, bgs = sprites(), backgrounds(trials)
    result = {}
    for d in distances:
        hits = total = false = 0
        width = face_width_px(d, W, HFOV)
        for sprite in faces:
            for bg in bgs:
                canvas = bg.copy()
                cx, cy = rng.uniform(0.15, 0.85) * W, rng.uniform(0.25, 0.7) * H
                truth = paste_face(canvas, sprite, cx, cy, width)
                found = det.detect(canvas)
                total += 1
                hit = any(loose_match(f.box, truth) for f in found)
                hits += hit
                false += len(found) - hit
        result[f"{d:.1f}m"] = {"face_px": round(width, 1), "recall": round(hits / total, 3), "n": total, "fp": false}
    return result


def fps_table(seconds: float) -> dict:
    """Frames per second at 640×480 on one core: ours (detect + track) and OpenCV's FaceDetectorYN."""
    scene = Scene([shopper_walk(W, H, HFOV)], width=W, height=H)
    frames = [scene.render(t)[0] for t in np.linspace(0, 9, 60)]
    out = {}

    def run(label: str, step) -> None:
        """Call `step` on the frames for `seconds`; record frames per wall second and per CPU second.

        Other jobs share the machine, so the wall rate understates what one free core does; the CPU rate
        (single-threaded, pinned) is the figure for a core of our own.
        """
        n, start, cpu = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - start < seconds:
            step(frames[n % len(frames)], n)
            n += 1
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        out[label] = {"fps_wall": round(n / wall, 1), "fps_per_cpu_s": round(n / cpu, 1)}

    for min_face in (40, MODEL_MIN_FACE_PX):
        det, tracker = YuNetDetector(min_face_px=min_face), Tracker()
        run(
            f"yuface detect+track, min_face {min_face}px (scale {det.scale_for(W, H):.2f})",
            lambda f, n, det=det, tracker=tracker: tracker.update(det.detect(f), n / 15),
        )
    if ONNX.is_file():
        for scale in (0.6, 1.0):
            size = (round(W * scale), round(H * scale))
            yn = cv2.FaceDetectorYN.create(str(ONNX), "", size, 0.85, 0.3)  # top_k at its default 5000

            def step(f, n, yn=yn, size=size):
                """One OpenCV detection, resized like ours when scale < 1."""
                yn.detect(f if size == (W, H) else cv2.resize(f, size, interpolation=cv2.INTER_AREA))

            run(f"cv2.FaceDetectorYN (opencv_zoo 2023mar ONNX) detect at {size[0]}x{size[1]}", step)
    return out


def idle_cpu(fps: float, seconds: float, gated: bool) -> dict:
    """CPU share of the whole screen pipeline (capture + detection) filming an empty shop at `fps`."""
    scene = Scene([], width=W, height=H)
    pipeline = ScreenPipeline(YuNetDetector(), Tracker(), AudienceMeter(), MotionGate() if gated else None)
    processed, seq = 0, 0
    with scene_camera(scene, fps=fps) as cam:
        cam.wait_newer(0, timeout=5.0)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        while time.perf_counter() - wall0 < seconds:
            frame = cam.wait_newer(seq, timeout=1.0)
            if frame is None:
                continue
            seq = frame.seq
            pipeline.process(frame.image, frame.ts)
            processed += 1
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"fps": fps, "motion_gate": gated, "frames": processed, "detections": pipeline.detections,
            "cpu_share_of_one_core": round(cpu / wall, 3)}


class OpenCVYuNet:
    """OpenCV's FaceDetectorYN behind `FaceDetector`, shrinking frames like ours: the comparison, never shipped."""

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self.size = (round(W * scale), round(H * scale))
        self.yn = cv2.FaceDetectorYN.create(str(ONNX), "", self.size, 0.85, 0.3)  # top_k at its default 5000

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in frame pixels, landmarks in yuface's order (right eye, left eye, nose, mouth corners)."""
        small = image if self.scale == 1.0 else cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        _, rows = self.yn.detect(small)
        k = 1.0 / self.scale
        return [
            Face(tuple(round(float(v) * k) for v in r[:4]), float(r[14]),  # type: ignore[arg-type]
                 tuple((round(float(r[4 + 2 * i]) * k), round(float(r[5 + 2 * i]) * k)) for i in range(5)))
            for r in (rows if rows is not None else [])
        ]


def script_truth(scene: Scene, config: AudienceConfig, step: float = 0.01) -> dict:
    """What a perfect meter reports for the scene: the script sampled every `step` s.

    A person is in view while facing the camera (yaw under 45°) with the whole face inside the frame;
    in the zone while in view at an estimated distance within the zone.
    """
    focal = focal_px(scene.width, config.hfov_deg)
    people = []
    for script in scene.scripts:
        view = zone = 0.0
        for t in np.arange(script[0].t, script[-1].t, step):
            k = pose_at(script, float(t))
            if k is None or abs(k.yaw_deg) >= 45 or k.cx - k.width_px / 2 < 0 or k.cx + k.width_px / 2 > scene.width:
                continue
            view += step
            zone += step if config.zone_near_m <= focal * config.face_width_m / k.width_px <= config.zone_far_m else 0.0
        people.append((view, zone))
    dwell = [z for _, z in people if z >= config.min_stop_s]
    watched = [v for v, _ in people if v >= config.min_watch_s]
    return {
        "passing": len(people), "stopping": len(dwell), "engaged": sum(z > 0 for _, z in people),
        "watchers": len(watched), "attention_total_s": round(sum(watched), 1),
        "dwell_s": {"mean": round(float(np.mean(dwell)), 1), "median": round(float(np.median(dwell)), 1),
                    "max": round(max(dwell), 1)},
    }


def video(fps: float, repeat: int) -> dict:
    """The screen pipeline vs OpenCV detecting every frame, on the same frames of the scripted scene, in one run.

    Each variant is a full pipeline (detector, tracker, meter); CPU time is the thread time of its
    `process` calls only (rendering excluded). The counts are the meter's one audience period.
    """
    scene = Scene(store_visitors(W, H, HFOV), width=W, height=H, sprites=sprites())
    config = AudienceConfig(hfov_deg=HFOV, period_s=300)
    truth = script_truth(scene, config)
    ours = YuNetDetector
    variants = {"opencv_every_frame_384x288": lambda: ScreenPipeline(OpenCVYuNet(0.6), Tracker(), AudienceMeter(config), full_every_s=0)}
    if not ONNX.is_file():
        variants = {}
    variants |= {
        "yuface_every_frame": lambda: ScreenPipeline(ours(), Tracker(), AudienceMeter(config), full_every_s=0),
        "near_tracks_only_full_every_1s_no_gate": lambda: ScreenPipeline(ours(), Tracker(), AudienceMeter(config), full_every_s=1.0),
        "motion_detects_full_frame_crop_face_64px": lambda: ScreenPipeline(
            ours(), Tracker(), AudienceMeter(config), MotionGate(), crop_face_px=64, max_region_share=0),
        "motion_detects_full_frame": lambda: ScreenPipeline(ours(), Tracker(), AudienceMeter(config), MotionGate(), max_region_share=0),
        "default_but_full_every_0.5s": lambda: ScreenPipeline(ours(), Tracker(), AudienceMeter(config), MotionGate(), full_every_s=0.5),
        "pipeline_default": lambda: ScreenPipeline(ours(), Tracker(), AudienceMeter(config), MotionGate()),
    }
    runs = []
    for _ in range(repeat):
        pipes = {name: make() for name, make in variants.items()}
        cpu = dict.fromkeys(pipes, 0.0)
        events: dict[str, list] = {name: [] for name in pipes}
        n = int(scene.duration * fps) + 1
        t0 = 3000.0
        for i in range(n):
            frame = scene.render(i / fps)[0]
            for name, pipe in pipes.items():
                c = time.thread_time()
                events[name] += pipe.process(frame, t0 + i / fps)
                cpu[name] += time.thread_time() - c
        run = {}
        for name, pipe in pipes.items():
            (summary,) = [e for e in events[name] + pipe.close(t0 + n / fps) if e["event"] == "audience"]
            (content,) = summary["by_content"]
            got = {"passing": summary["passing"], "stopping": summary["stopping"], "engaged": summary["engaged"],
                   "watchers": content["watchers"], "attention_total_s": content["attention_s"]["total"],
                   "dwell_s": summary["dwell_s"]}
            run[name] = {
                "fps_per_cpu_s": round(n / cpu[name], 1), "full_detections": pipe.detections, "near_searches": pipe.searches,
                "counts_equal_script": all(got[k] == truth[k] for k in ("passing", "stopping", "engaged", "watchers")),
                **got,
                "dwell_error_s": round(max(abs((got["dwell_s"][k] or 0) - truth["dwell_s"][k]) for k in truth["dwell_s"]), 1),
                "attention_error_s": round(got["attention_total_s"] - truth["attention_total_s"], 1),
            }
        base = run.get("opencv_every_frame_384x288", {}).get("fps_per_cpu_s")
        for row in run.values():
            row["ratio_to_opencv"] = round(row["fps_per_cpu_s"] / base, 2) if base else None
        runs.append(run)
    return {"scene": {"people": len(scene.scripts), "seconds": scene.duration, "fps": fps, "frames": n,
                      "sprites": len(scene.sprites)}, "script_truth": truth, "runs": runs}


def camera_health_cost(seconds: float) -> dict:
    """µs per 640×480 frame of the camera-health check (every verdict, the moved comparison learned), on live-like frames."""
    scene = Scene([shopper_walk(W, H, HFOV)], width=W, height=H)
    rng = np.random.default_rng(3)
    frames = [np.clip(scene.render(t)[0] + rng.normal(0, 2, (H, W, 3)), 0, 255).astype(np.uint8)
              for t in np.arange(0, 13, 0.5)]
    health, ts, times = CameraHealth(), 0.0, []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for image in frames:
            t = time.perf_counter()
            health.observe(image, ts, people=False)
            times.append(time.perf_counter() - t)
            ts += 0.5  # 2 fps of scene time: the reference is learned after 60 frames, compared from then on
    us = np.array(times[60:]) * 1e6
    return {"frames": len(us), "median_us": round(float(np.median(us)), 1), "p99_us": round(float(np.percentile(us, 99)), 1)}


def main() -> int:
    """Run every part and print one JSON object per part."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each FPS / CPU run")
    parser.add_argument("--fps", type=float, default=10.0, help="camera frame rate for the idle CPU and video runs")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the video benchmark")
    parser.add_argument("--video-only", action="store_true", help="run only the video benchmark")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core for every thread
    print(json.dumps({"setup": {"cores": sorted(os.sched_getaffinity(0)), "cv2_threads": cv2.getNumThreads(),
                                "OMP_NUM_THREADS_env": os.environ.get("OMP_NUM_THREADS")}}))
    print(json.dumps({"video_pipeline_vs_opencv": video(args.fps, args.repeat)}))
    if args.video_only:
        return 0
    if FACES.is_dir():
        for label, figures in accuracy_parts():  # the CLI's defaults (2x pass), loose rule, by size band
            print(json.dumps({"accuracy_by_band": {label: figures}}))
    else:
        print(json.dumps({"accuracy_by_band": "skipped: ../shared absent"}))
    print(json.dumps({"recall_by_distance_default_min_face_40": recall_by_distance(40)}))
    print(json.dumps({"recall_by_distance_full_res_min_face_24": recall_by_distance(MODEL_MIN_FACE_PX)}))
    print(json.dumps({"fps_640x480_one_core": fps_table(args.seconds)}))
    for gated in (False, True):
        print(json.dumps({"idle_cpu": idle_cpu(args.fps, args.seconds * 2, gated)}))
    print(json.dumps({"camera_health_640x480": camera_health_cost(args.seconds)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
