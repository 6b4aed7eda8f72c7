"""Export the trained embedding net to ONNX (fp32), quantise it to static int8 QDQ, and build the galleries.

    .venv/bin/python models/produce/export.py --ckpt models/produce/cache/main.pt

Writes, next to this script: <MODEL_NAME>.onnx (fp32), <MODEL_NAME>.int8.onnx (MODEL_NAME in edge/scale/recognition/model.py), and
gallery.npz / gallery-fp32.npz (train + val embeddings per fine class, each made by its own model file).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import compose, helper, numpy_helper
import torch
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process
from PIL import Image

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from netdef import load_checkpoint  # noqa: E402
from train import read_list  # noqa: E402

from edge.scale.recognition.gallery import Gallery  # noqa: E402
from edge.scale.recognition.model import MODEL_NAME, ProduceModel, crop_resize, normalise  # noqa: E402



class TrainImages(CalibrationDataReader):
    """Calibration batches: centre views of an evenly spaced, seeded sample of train images."""

    def __init__(self, data: Path, rows: list[tuple[str, int, int]], n: int, seed: int) -> None:
        """Pick n train images reproducibly."""
        pick = np.random.default_rng(seed).choice(len(rows), size=min(n, len(rows)), replace=False)
        self._paths = [data / rows[i][0] for i in sorted(pick)]
        self._i = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        """Next preprocessed image, or None at the end."""
        if self._i >= len(self._paths):
            return None
        with Image.open(self._paths[self._i]) as im:
            x = normalise(crop_resize(im))
        self._i += 1
        return {"image": x}


def export_fp32(ckpt: Path, out: Path, version: str) -> set[int]:
    """Trace one trained network to ONNX opset 17 with a fixed 1x3x224x224 input; returns its held-out classes."""
    net, meta = load_checkpoint(ckpt)
    torch.onnx.export(
        net,
        (torch.zeros(1, 3, 224, 224),),
        str(out),
        opset_version=17,
        dynamo=False,
        input_names=["image"],
        output_names=["embedding"],
    )
    set_version(out, version)
    return set(meta["held_out"])


def merge_members(members: list[Path], out: Path, version: str) -> None:
    """One ONNX graph running every member on the same input, their embeddings side by side divided by sqrt(count).

    Each member's output is L2-normalised, so the whole is too, and the cosine of two such vectors is the mean of
    the members' cosines: the gallery's rules apply unchanged. Members trained separately make different mistakes
    (measured on val, MODEL_CARD.md). A member is a float32 ONNX file, so an earlier model can be one.
    """
    loaded = [compose.add_prefix(onnx.load(str(m)), f"m{i}_", rename_inputs=False) for i, m in enumerate(members)]
    nodes = [n for m in loaded for n in m.graph.node]
    inits = [t for m in loaded for t in m.graph.initializer]
    scale = numpy_helper.from_array(np.array([len(members) ** -0.5], np.float32), "ensemble_scale")
    nodes += [
        helper.make_node("Concat", [m.graph.output[0].name for m in loaded], ["ensemble_concat"], axis=1),
        helper.make_node("Mul", ["ensemble_concat", "ensemble_scale"], ["embedding"]),
    ]
    graph = helper.make_graph(
        nodes, "produce_ensemble", [loaded[0].graph.input[0]],
        [helper.make_tensor_value_info("embedding", onnx.TensorProto.FLOAT, [1, "dim"])], [*inits, scale],
    )
    model = helper.make_model(graph, opset_imports=loaded[0].opset_import)
    model.ir_version = loaded[0].ir_version
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    set_version(out, version, len(members))


def set_version(path: Path, version: str, members: int = 1) -> None:
    """Store the model version and member count in the ONNX metadata, where ProduceModel reads them."""
    model = onnx.load(str(path))
    del model.metadata_props[:]
    model.metadata_props.add(key="version", value=version)
    model.metadata_props.add(key="members", value=str(members))
    model.metadata_props.add(key="input", value="1x3x224x224 RGB float32 (pixel-127)/128, centre square, bicubic")
    onnx.save(model, str(path))


def quantise(fp32: Path, out: Path, reader: CalibrationDataReader, version: str) -> None:
    """Static int8 QDQ, per-channel weights, MinMax calibration; the member count carried over from `fp32`."""
    members = int({p.key: p.value for p in onnx.load(str(fp32), load_external_data=False).metadata_props}.get("members", "1"))
    pre = out.with_suffix(".pre.onnx")
    quant_pre_process(str(fp32), str(pre))
    quantize_static(
        str(pre),
        str(out),
        reader,
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    pre.unlink()
    set_version(out, version, members)


def class_table(data: Path) -> dict[int, dict[str, object]]:
    """fine id -> {name, coarse_name, coarse_id} from the dataset's classes.csv."""
    table = {}
    with open(data / "classes.csv", newline="") as f:
        for row in list(csv.reader(f))[1:]:
            table[int(row[1])] = {"fine_id": int(row[1]), "name": row[0], "coarse": row[2], "coarse_id": int(row[3])}
    return table


def build_gallery(model: Path, data: Path, rows: list[tuple[str, int, int]], out: Path, exclude: set[int]) -> None:
    """Embed every listed image with this model file and save one gallery entry per fine class."""
    rec = ProduceModel(model)
    table = class_table(data)
    gallery = Gallery(model_version=rec.model_version, max_per_product=80)
    for rel, fine, _ in rows:
        if fine in exclude:
            continue
        with Image.open(data / rel) as im:
            gallery.add(table[fine]["name"], rec.embed(im))
    info = {table[f]["name"]: table[f] for f in table if f not in exclude}
    gallery.save(out, info)


def main(argv: list[str] | None = None) -> int:
    """Export, quantise and build both galleries."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", type=Path, nargs="*", default=[HERE / "cache/main.pt"], help="train.py checkpoints (members)")
    p.add_argument("--member-onnx", type=Path, nargs="*", default=[], help="float32 ONNX members exported earlier (first)")
    p.add_argument("--data", type=Path, default=REPO.parent / "shared/datasets/grocerystore")
    p.add_argument("--out-dir", type=Path, default=HERE)
    p.add_argument("--name", default=MODEL_NAME)
    p.add_argument("--calibration", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--exclude-held-out", action="store_true", help="leave the checkpoint's held-out classes out")
    p.add_argument("--skip-galleries", action="store_true", help="only the model files (benchmarks embed their own)")
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    fp32 = args.out_dir / f"{args.name}.onnx"
    int8 = args.out_dir / f"{args.name}.int8.onnx"
    if len(args.ckpt) + len(args.member_onnx) == 1 and args.ckpt:
        held_out = export_fp32(args.ckpt[0], fp32, f"{args.name}-fp32")
    else:  # an ensemble: the earlier members first, then each checkpoint exported beside the output, then merged
        members, held_out = list(args.member_onnx), set()
        for i, ckpt in enumerate(args.ckpt):
            members.append(args.out_dir / f"{args.name}.member{i}.onnx")
            held_out |= export_fp32(ckpt, members[-1], f"{args.name}-member{i}")
        merge_members(members, fp32, f"{args.name}-fp32")
        for member in members[len(args.member_onnx):]:
            member.unlink()
    train_rows = read_list(args.data, "train.txt")
    quantise(fp32, int8, TrainImages(args.data, train_rows, args.calibration, args.seed), f"{args.name}-int8")
    if args.skip_galleries:
        return 0
    held = held_out if args.exclude_held_out else set()
    rows = train_rows + read_list(args.data, "val.txt")
    build_gallery(int8, args.data, rows, args.out_dir / "gallery.npz", held)
    build_gallery(fp32, args.data, rows, args.out_dir / "gallery-fp32.npz", held)
    print(f"wrote {fp32} {int8} and galleries")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
