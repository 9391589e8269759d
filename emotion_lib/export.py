"""Export a trained model as a portable copy: one ONNX file that ``predict`` runs with onnxruntime, no TensorFlow.

Usage::

    python -m emotion_lib.export models/<trial>.keras [--output FILE.onnx]
                                 [--[no-]test-time-flip] [--test-time-shift PIXELS]

The copy (format: :mod:`emotion_lib.portable`) is the model's inference graph, traced with ``training=False``
behind the input path of training (:func:`emotion_lib.inputs.resize_images`, :func:`~emotion_lib.inputs.
expand_channels`), converted by tf2onnx, with the emotions, sizes and the trial's evaluated test-time views in its
metadata.  A model trained in mixed precision is rebuilt in float32 first (same weights): ONNX Runtime's CPU
kernels have no bfloat16 convolution.  Before the file is written, the copy and the Keras model score the same
random faces in every recorded view; a difference above :data:`PARITY_TOLERANCE` is refused.

Exporting needs TensorFlow, tf2onnx and onnx (requirements.txt); running the copy needs only onnxruntime.
Exit status 0, or 2 with one ``error:`` line for a bad model, option or output path.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emotion_lib.cli import Parser, run_stage
from emotion_lib.errors import UserError
from emotion_lib.portable import INPUT_NAME, METADATA_KEY, OUTPUT_NAME, SUFFIX, CopyInfo, load_copy

OPSET = 17
"""ONNX opset of the copies: supported by every onnxruntime since 1.11 (2022), so old runtimes open new copies."""
PARITY_TOLERANCE = 1e-3
"""Largest difference of any score, copy against Keras, that export accepts (measured: about 1e-6)."""
PROBE_FACES = 16


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_copy` wrote and how closely the copy follows the Keras model."""

    info: CopyInfo
    output: Path
    size_bytes: int
    max_difference: float
    """Largest score difference, copy against the model computed in float32, over the probe faces' views."""
    precision: str
    """The dtype policy the model was trained in (``float32``, ``mixed_bfloat16``, ...)."""
    max_difference_trained_precision: float | None = None
    """The same against the model in its trained mixed precision; None for a float32 model."""


def float32_model(model: Any) -> Any:
    """``model`` rebuilt with every layer's dtype policy float32 and the same weights (itself if already float32).

    Mixed-precision models keep float32 weights, so nothing is lost; the copy then computes in float32, as the
    trials trained on a machine without bfloat16 do.
    """
    import keras

    if trained_precision(model) == "float32":
        return model

    def to_float32(config: Any) -> Any:
        if isinstance(config, dict):
            if str(config.get("class_name", "")).endswith("DTypePolicy"):
                return {**config, "config": {**config.get("config", {}), "name": "float32"}}
            return {key: to_float32(value) for key, value in config.items()}
        return [to_float32(value) for value in config] if isinstance(config, list) else config

    rebuilt = keras.saving.deserialize_keras_object(to_float32(keras.saving.serialize_keras_object(model)))
    rebuilt.set_weights(model.get_weights())
    return rebuilt


def trained_precision(model: Any) -> str:
    """The dtype policy ``model`` computes in: ``float32``, or the mixed one its layers were built with.

    The model's own policy does not say: Keras gives a loaded functional model the global default, float32.
    """
    policies = [layer.dtype_policy.name for layer in _all_layers(model)]
    return next((name for name in policies if name != "float32"), "float32")


def _all_layers(model: Any) -> list[Any]:
    """Every layer of ``model``, nested models' (the VGG16 base) included."""
    layers = []
    for layer in model.layers:
        layers.append(layer)
        if hasattr(layer, "layers"):
            layers.extend(_all_layers(layer))
    return layers


def to_onnx(model: Any, image_size: int) -> Any:
    """The ONNX graph of ``model`` behind the input path: uint8 faces (N, S, S) in, probabilities out."""
    import tensorflow as tf
    import tf2onnx

    from emotion_lib.inputs import expand_channels, input_geometry, resize_images

    side, channels = input_geometry(model)
    spec = [tf.TensorSpec((None, image_size, image_size), tf.uint8, name=INPUT_NAME)]

    # training=False spelled out: Keras' own model.export(format="onnx") kept an augmented vgg_bn's random ops,
    # which ONNX Runtime cannot load, and with those layers replaced by identities traced the batch norms in
    # training mode (scores off by 0.86).
    @tf.function(input_signature=spec)
    def probabilities(faces):
        return model(expand_channels(resize_images(faces, side), channels), training=False)

    logging.getLogger("tf2onnx").setLevel(logging.ERROR)  # Its per-op INFO lines would bury the one that matters.
    proto, _ = tf2onnx.convert.from_function(probabilities, spec, opset=OPSET)
    _resize_in_float(proto)
    _rename_output(proto, OUTPUT_NAME)
    return proto


def _resize_in_float(proto: Any) -> None:
    """Cast uint8 inputs of the graph's Resize ops to float, as TensorFlow's bilinear resize computes.

    tf2onnx 1.17 converts TensorFlow's resize of uint8 faces (which returns float) into an ONNX Resize on
    uint8, which returns uint8 and then fails to load against the float clipping after it.  A model whose
    input is not the stored size (the scratch trials' 80 px, VGG16's) has such a resize.
    """
    import onnx

    inferred = onnx.shape_inference.infer_shapes(proto)
    dtypes = {value.name: value.type.tensor_type.elem_type for value in [*inferred.graph.value_info,
                                                                           *inferred.graph.input]}
    nodes = []
    for node in proto.graph.node:
        node = onnx.NodeProto.FromString(node.SerializeToString())  # a copy that outlives the list cleared below
        if node.op_type == "Resize" and dtypes.get(node.input[0]) == onnx.TensorProto.UINT8:
            as_float = f"{node.input[0]}_as_float"
            nodes.append(onnx.helper.make_node("Cast", [node.input[0]], [as_float], name=f"{node.name}_cast",
                                               to=onnx.TensorProto.FLOAT))
            node.input[0] = as_float
        nodes.append(node)
    del proto.graph.node[:]
    proto.graph.node.extend(nodes)


def _rename_output(proto: Any, name: str) -> None:
    """Call the graph's one output ``name`` (tf2onnx names it after TensorFlow's last op, ``Identity:0``)."""
    old = proto.graph.output[0].name
    for node in proto.graph.node:
        node.output[:] = [name if value == old else value for value in node.output]
        node.input[:] = [name if value == old else value for value in node.input]
    proto.graph.output[0].name = name


def probe_faces(count: int, side: int, seed: int = 0) -> np.ndarray:
    """Smooth random uint8 faces (N, side, side): upscaled noise, so resizing and shifting them is not trivial."""
    from PIL import Image

    small = np.random.default_rng(seed).integers(0, 256, (count, max(side // 4, 2), max(side // 4, 2)), np.uint8)
    return np.stack([np.asarray(Image.fromarray(s).resize((side, side), Image.Resampling.BICUBIC)) for s in small])


def export_copy(model_path: Path, output: Path, *, emotions: Sequence[str], image_size: int, test_time_flip: bool,
                test_time_shift: int) -> ExportReport:
    """Convert the Keras model at ``model_path`` into a copy at ``output``, verified against Keras before it lands."""
    from emotion_lib.atomic import atomic_file
    from emotion_lib.evaluation import predict_views
    from emotion_lib.predict import load_classifier

    model = load_classifier(model_path, emotions)
    exact = float32_model(model)
    proto = to_onnx(exact, image_size)
    side, channels = exact.input_shape[1], exact.input_shape[3]
    info = CopyInfo(emotions=tuple(emotions), image_size=image_size, model_input=(side, side, channels),
                    test_time_flip=test_time_flip, test_time_shift=test_time_shift, source=model_path.name,
                    source_sha256=hashlib.sha256(model_path.read_bytes()).hexdigest())
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, info.to_json()
    proto.doc_string = f"{model_path.name} of the emotion_lib study, exported by python -m emotion_lib.export"

    faces = probe_faces(PROBE_FACES, image_size)
    views = {"flip": test_time_flip, "shift": test_time_shift}
    with atomic_file(output) as tmp:
        tmp.write_bytes(proto.SerializeToString())
        got = load_copy(tmp).predict_views(faces, **views)
        expected = predict_views(exact, faces, **views, progress=False)
        difference = max(float(np.abs(g - e).max()) for g, e in zip(got, expected, strict=True))
        if not difference <= PARITY_TOLERANCE:  # `not <=` so that NaN is refused too
            raise UserError(f"{model_path}: the exported copy's scores differ from Keras' by {difference:.2g} "
                            f"(more than {PARITY_TOLERANCE}); nothing written to {output}. Please report this "
                            f"with the model's layers (a layer tf2onnx converts differently)")
    trained = None
    if exact is not model:
        trained = max(float(np.abs(g - e).max())
                      for g, e in zip(got, predict_views(model, faces, **views, progress=False), strict=True))
    return ExportReport(info, output, output.stat().st_size, difference, trained_precision(model), trained)


# --------------------------------------------------------------------------- command line


def check_output(output: Path) -> None:
    """Refuse an output path before the slow conversion: it must be a ``.onnx`` file in an existing folder."""
    if output.is_dir():
        raise UserError(f"--output {output}: is a folder; give a file name such as {output / 'model.onnx'}")
    if output.suffix.lower() != SUFFIX:
        raise UserError(f"--output {output}: name the copy {output.with_suffix(SUFFIX).name} (a {SUFFIX} file "
                        f"is what predict runs without TensorFlow)")
    if not output.parent.is_dir():
        raise UserError(f"--output {output}: folder {output.parent} does not exist; create it first")


def build_parser() -> argparse.ArgumentParser:
    """The command's options; a bad one is refused in one ``error:`` line with exit status 2."""
    from emotion_lib.predict import add_view_options

    parser = Parser(prog="python -m emotion_lib.export", description=__doc__.split("\n\n")[0],
                    epilog="then: python -m emotion_lib.predict IMAGES --model FILE.onnx (needs only onnxruntime)")
    parser.add_argument("model", type=Path, metavar="MODEL", help="a trained model, models/<trial>.keras")
    parser.add_argument("--output", type=Path, help="the copy to write (default: MODEL with the suffix .onnx)")
    add_view_options(parser, flip_help="record that predict should join each face with its mirror image "
                     "(default: as evaluate-<trial> does for models/<trial>.keras, evaluate.<trial>.test_time_flip)",
                     shift_help="record the pixels predict should also shift each face by, 0 = none (default: as "
                     "evaluate-<trial> does, evaluate.<trial>.test_time_shift)")
    return parser


def _run(args: argparse.Namespace) -> None:
    """Export, then say on stderr what the copy is and how closely it follows the model."""
    from emotion_lib.predict import project_settings, use_test_time_flip, use_test_time_shift

    if args.model.suffix.lower() == SUFFIX:
        raise UserError(f"{args.model}: already an exported copy; pass the Keras model it came from, "
                        f"models/<trial>.keras")
    output = args.output if args.output is not None else args.model.with_suffix(SUFFIX)
    check_output(output)
    settings = project_settings()
    if settings.note:
        print(f"note: {settings.note}", file=sys.stderr)
    flip, flip_why = use_test_time_flip(args.test_time_flip, args.model, settings)
    shift, shift_why = use_test_time_shift(args.test_time_shift, args.model, settings)
    report = export_copy(args.model, output, emotions=settings.emotions, image_size=settings.image_size,
                         test_time_flip=flip, test_time_shift=shift)
    side, _, channels = report.info.model_input
    print(f"export: {args.model} -> {output} ({report.size_bytes / 1e6:.1f} MB, ONNX opset {OPSET}): "
          f"{settings.image_size} px faces, model input {side}x{side}x{channels}, "
          f"{len(report.info.emotions)} emotions", file=sys.stderr)
    print(f"export: views recorded: test-time flip {'on' if flip else 'off'} ({flip_why}), shift {shift} px "
          f"({shift_why}); predict uses them unless told otherwise", file=sys.stderr)
    print(f"export: scores equal Keras' to {report.max_difference:.1g} (largest difference over {PROBE_FACES} "
          f"random faces, every view; the limit is {PARITY_TOLERANCE})", file=sys.stderr)
    if report.max_difference_trained_precision is not None:
        print(f"export: the model trained in {report.precision}; the copy computes in float32, and differs from "
              f"Keras in {report.precision} by {report.max_difference_trained_precision:.2g}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> None:
    """The command line; exits 0, or 2 with one ``error:`` line."""
    run_stage(_run, build_parser(), argv)


if __name__ == "__main__":
    main()
