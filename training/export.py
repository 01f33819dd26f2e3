"""Export a trained FusionVAE checkpoint for deployment: a validated ONNX file, optionally a TensorRT engine.

    python training/export.py --checkpoint runs/x/checkpoints/last.pt --onnx models/x/model.onnx  # models/x exists
    python training/export.py --checkpoint CKPT --onnx OUT.onnx --engine OUT.plan --fp16   # on the target GPU

The ONNX file is only written after onnx.checker accepts it and ONNX Runtime reproduces torch's images for the
same noise (see fusionvae_core.export). Every failure prints one line: usage errors (bad arguments, an unusable
checkpoint, an output that cannot be written) exit with status 2, a failed export or engine build with status 1.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from fusionvae_core.checkpoint import CheckpointError
from fusionvae_core.export import DEFAULT_OPSET, DEFAULT_TOLERANCE, ExportError, export_checkpoint
from fusionvae_core.inference import BackendError, import_backend_module

EXIT_FAILED, EXIT_USAGE = 1, 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="checkpoint written by training/train.py")
    parser.add_argument("--onnx", type=Path, required=True, help="ONNX file to write")
    parser.add_argument("--engine", type=Path, help="also build a TensorRT engine file (needs TensorRT 10 + a GPU)")
    parser.add_argument("--fp16", action="store_true", help="build the TensorRT engine with FP16 kernels")
    parser.add_argument("--device", default="cuda", help="GPU for the TensorRT engine (default: cuda)")
    parser.add_argument("--max-batch", type=int, default=8, help="largest batch of the engine's profile")
    parser.add_argument("--max-samples", type=int, default=8, help="largest hypotheses count of the engine's profile")
    parser.add_argument(
        "--num-samples-hint", type=int, default=3, help="typical hypotheses count (export example, engine optimum)"
    )
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (>= {DEFAULT_OPSET})")
    parser.add_argument(
        "--tolerance", type=float, default=DEFAULT_TOLERANCE, help="max |ONNX Runtime - torch| accepted"
    )
    args = parser.parse_args(argv)
    if args.fp16 and args.engine is None:
        parser.error("--fp16 applies to the TensorRT engine: give --engine too")
    if args.onnx.suffix.lower() != ".onnx":
        parser.error(f"--onnx must name a .onnx file (the backends read only that extension), got {args.onnx}")
    return args


def output_problem(path: Path) -> str | None:
    """Why `path` cannot be written, found before the minute-long export by creating a probe file; None if it can.

    The folder must exist already: a typo in it should not silently create a new folder tree.
    """
    if path.is_dir():
        return "is a folder"
    folder = path.parent
    if not folder.is_dir():
        if folder.exists():
            return f"{folder} is not a folder"
        missing = next(parent for parent in reversed(path.parents) if not parent.exists())
        return f"folder {missing} does not exist (create it first: mkdir -p {folder})"
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        return f"cannot create files in {folder} ({error.strerror or error})"
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the export; 0 on success, else a one-line message on stderr and 2 (usage) or 1 (export failed)."""
    args = parse_args(argv)
    problem = output_problem(args.onnx)
    if problem is not None:
        print(f"export.py: error: --onnx {args.onnx}: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        tensorrt = import_backend_module("tensorrt") if args.engine is not None else None  # fail before exporting
        report = export_checkpoint(
            args.checkpoint,
            args.onnx,
            num_samples_hint=args.num_samples_hint,
            opset=args.opset,
            tolerance=args.tolerance,
        )
        meta = report.metadata
        print(
            f"exported {report.path} (sha256 {report.sha256}): preset {meta.preset}, {meta.image_size}x"
            f"{meta.image_size}x{meta.channels}, {len(meta.latent_shapes)} latent groups, max |ONNX Runtime - torch| "
            f"= {report.max_abs_diff:.2g}, {report.seconds:.1f} s"
        )
        if tensorrt is not None:
            key = tensorrt.build_engine_file(
                args.onnx,
                args.engine,
                fp16=args.fp16,
                device=args.device,
                max_batch=args.max_batch,
                max_samples=args.max_samples,
            )
            print(f"built {args.engine}: TensorRT {key.tensorrt_version} on {key.gpu_name}, fp16={key.fp16}")
    except (CheckpointError, ExportError, BackendError) as error:  # an unusable checkpoint is a usage error
        print(f"export.py: error: {' '.join(str(error).split())}", file=sys.stderr)
        return EXIT_USAGE if isinstance(error, CheckpointError) else EXIT_FAILED
    except OSError as error:  # e.g. the disk filled up while writing: name the output, not the temp file
        print(f"export.py: error: --onnx {args.onnx}: cannot write ({error.strerror or error})", file=sys.stderr)
        return EXIT_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
