#!/usr/bin/env python
# Copyright 2026 The adamae-hf authors. Licensed under the MIT License.
"""Convert the authors' released AdaMAE checkpoints (or original VideoMAE ones) to adamae-hf / transformers format.

Example:

    python scripts/convert_original_checkpoint.py \
        --checkpoint_path ssv2_800ep_checkpoint.pth --pytorch_dump_folder_path adamae-base-ssv2 \
        --model_card adamae-base-ssv2 [--push_to_hub --repo_id <user>/adamae-base-ssv2]

The kind (pre-training with sampler, original VideoMAE pre-training, fine-tuned) is detected from the keys and the
config inferred from tensor shapes; flags give what shapes cannot (image size or frames, attention heads, labels).
It prints which values it read from the weights, which were given and which it assumed (the released models'),
and stops with one error listing every value it needs where the weights do not tell and no released value fits.
Every key must be used or known to be unneeded (the fixed sin-cos tables), otherwise the script stops and lists them.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # run from a source checkout too

from adamae_hf.conversion import ConversionError, convert_original_checkpoint, read_label_file  # noqa: E402
from adamae_hf.hub import PAPER_VARIANTS, HubError, push_checkpoint_to_hub  # noqa: E402


logger = logging.getLogger("convert_original_checkpoint")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint_path", required=True, help="Original checkpoint (.pth) to convert.")
    parser.add_argument("--pytorch_dump_folder_path", required=True, help="Output directory.")
    parser.add_argument("--checkpoint_key", default=None, help="Entry holding the state dict (default: model/module).")
    parser.add_argument(
        "--image_size", type=int, default=None,
        help="Input resolution. Default: read from the position table's token count at --num_frames; given neither, "
        "the released 224 where the weights fit it, else required.",
    )  # fmt: skip
    parser.add_argument(
        "--num_frames", type=int, default=None,
        help="Frames per clip. Default: read from the position table's token count at --image_size; given neither, "
        "the released 16 where the weights fit it, else required.",
    )  # fmt: skip
    parser.add_argument(
        "--num_attention_heads", type=int, default=None,
        help="Encoder heads (default: the released models', 6/12/16 for widths 384/768/1024 and 1280; required otherwise).",
    )  # fmt: skip
    parser.add_argument(
        "--decoder_num_attention_heads", type=int, default=None,
        help="Decoder heads (default: the released models', 3/6/8 for widths 192/384/512 and 640; required otherwise).",
    )  # fmt: skip
    parser.add_argument("--sampler_num_attention_heads", type=int, default=None, help="Token sampler heads (default 8).")
    parser.add_argument(
        "--mask_type", choices=["adaptive", "tube", "random", "frame"], default=None,
        help="Default: adaptive with a sampler, tube (VideoMAE) without.",
    )  # fmt: skip
    parser.add_argument("--mask_ratio", type=float, default=None, help="Default: 0.95 adaptive, 0.9 otherwise.")
    parser.add_argument("--label_file", default=None, help="Class names: JSON {id: name} or one name per line.")
    parser.add_argument(
        "--model_card", choices=sorted(PAPER_VARIANTS), default=None,
        help="Write this paper variant's model card as README.md.",
    )  # fmt: skip
    parser.add_argument(
        "--safe_load_only", action="store_true",
        help="Refuse checkpoints that torch.load(weights_only=True) cannot read (no unpickling fallback).",
    )  # fmt: skip
    parser.add_argument("--push_to_hub", action="store_true", help="Upload the converted folder to the Hub.")
    parser.add_argument("--repo_id", default=None, help="Hub repository, '<user>/<name>' (required with --push_to_hub).")
    parser.add_argument("--private", action="store_true", help="Create the Hub repository as private.")
    parser.add_argument("--revision", default=None, help="Branch to push to (default main).")
    parser.add_argument("--token", default=None, help="Hub token (default: the saved login).")
    args = parser.parse_args(argv)
    if args.push_to_hub and not args.repo_id:
        parser.error("--push_to_hub needs --repo_id")
    return args


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    try:
        result = convert(args)
    except ConversionError as error:  # a checkpoint or argument that does not fit: the message says what to pass
        print(f"convert_original_checkpoint.py: error: {error}", file=sys.stderr)
        return 2
    config = result.model.config
    print(f"Read from the weights: {', '.join(f'{k}={getattr(config, k)}' for k in result.read)}", file=sys.stderr)
    if result.given:
        print(f"Given: {', '.join(f'{k}={v}' for k, v in result.given.items())}", file=sys.stderr)
    if result.assumed:
        print(f"Assumed (the released models'; pass the flag if this checkpoint differs): "
              f"{', '.join(f'{k}={v} (--{k})' for k, v in result.assumed.items())}", file=sys.stderr)  # fmt: skip
    summary = {"kind": result.kind, "read": result.read, "given": result.given, "assumed": result.assumed,
               "skipped_keys": result.skipped_keys, "verification": result.verification}  # fmt: skip
    print(json.dumps(summary, indent=2))
    if args.push_to_hub:
        try:
            url = push_checkpoint_to_hub(
                args.pytorch_dump_folder_path, args.repo_id, private=args.private, revision=args.revision,
                token=args.token, commit_message=f"Convert {Path(args.checkpoint_path).name} (AdaMAE release)",
            )  # fmt: skip
        except HubError as error:  # no token, no network, refused: what to do, without a traceback
            print(f"convert_original_checkpoint.py: error: {error}", file=sys.stderr)
            return 1
        print(f"Pushed to {url}")
    return 0


def convert(args: argparse.Namespace):
    """`convert_original_checkpoint` with the command-line arguments; raises `ConversionError`."""
    return convert_original_checkpoint(
        args.checkpoint_path,
        args.pytorch_dump_folder_path,
        checkpoint_key=args.checkpoint_key,
        allow_unsafe_pickle=not args.safe_load_only,
        model_card=args.model_card,
        image_size=args.image_size,
        num_frames=args.num_frames,
        num_attention_heads=args.num_attention_heads,
        decoder_num_attention_heads=args.decoder_num_attention_heads,
        sampler_num_attention_heads=args.sampler_num_attention_heads,
        mask_type=args.mask_type,
        mask_ratio=args.mask_ratio,
        id2label=read_label_file(args.label_file) if args.label_file else None,
    )


if __name__ == "__main__":
    sys.exit(main())
