"""``convolve export CHECKPOINT OUT.onnx``: write a checkpoint's model as an ONNX file.

A plug-in of :mod:`convolve.cli` (listed in its ``PLUGIN_MODULES``). The model is rebuilt
from the architecture stored in the checkpoint; the input shape defaults to the one
recorded there. Errors (no such checkpoint, a layer ONNX cannot express at the opset,
onnx not installed) print one line and exit with status 1, leaving OUT untouched.
"""

from __future__ import annotations

from .cli import CLIError, _checkpoint, _model_from, hidden_alias, parse_shape, subcommand


@subcommand("export", "export a checkpoint's model to ONNX (onnx.helper, no PyTorch)")
def export_command(p):
    p.add_argument("checkpoint", help="checkpoint file, or a run directory (best, else last)")
    p.add_argument("output", help="the .onnx file to write (atomically)")
    p.add_argument("--input", metavar="CxHxW",
                   help="per-sample input shape, e.g. 1x28x28 (default: the checkpoint's)")
    hidden_alias(p, "--input-shape", "input")  # the old spelling
    p.add_argument("--opset", type=int, default=17, help="ONNX opset version (default 17)")
    return _run_export


def _run_export(args) -> int:
    from .onnx import export

    ckpt = _checkpoint(args.checkpoint)
    model = _model_from(ckpt)
    if args.input:
        shape = parse_shape(args.input)
    else:
        shape = tuple((ckpt["architecture"] or {}).get("input_shape") or ())
        if not shape:
            raise CLIError(f"{ckpt['path']} records no input shape; pass --input CxHxW")
    path = export(model, shape, args.output, opset=args.opset)
    dims = "x".join(str(d) for d in shape)
    print(f"wrote {path} (ONNX opset {args.opset}, input N x {dims}, "
          f"{sum(p.numel() for p in model.parameters())} parameters)")
    return 0
