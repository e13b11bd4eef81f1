#!/usr/bin/env python
# Copyright 2026 The adamae-hf authors. Licensed under the MIT License.
"""Publish a saved AdaMAE checkpoint folder on the Hugging Face Hub, or render the paper variants' model cards.

    python scripts/push_to_hub.py --folder adamae-base-ssv2 --repo_id <user>/adamae-base-ssv2 [--private]
    python scripts/push_to_hub.py --folder runs/ft --repo_id <user>/my-run --model_card_from_run   # card of a run
    python scripts/push_to_hub.py --render_paper_cards model_cards                                 # regenerate cards

A pushed repository holds README.md, config.json (with auto_map), model.safetensors, configuration_adamae.py,
modeling_adamae.py and preprocessor_config.json (plus a run's *_results.json), so that
`AutoModel.from_pretrained(repo_id, trust_remote_code=True)` works without adamae-hf installed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # run from a source checkout too

from adamae_hf.hub import (  # noqa: E402
    PAPER_VARIANTS,
    HubError,
    model_card_for_run,
    push_checkpoint_to_hub,
    render_model_card,
    write_paper_model_cards,
)


logger = logging.getLogger("push_to_hub")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", help="Checkpoint folder written by save_pretrained / the training scripts.")
    parser.add_argument("--repo_id", help="Hub repository, '<user or org>/<name>'.")
    parser.add_argument("--private", action="store_true", help="Create the repository as private.")
    parser.add_argument("--revision", default=None, help="Branch to push to (created if needed; default main).")
    parser.add_argument("--create_pr", action="store_true", help="Open a pull request instead of committing.")
    parser.add_argument("--token", default=None, help="Hub token (default: the saved login).")
    parser.add_argument("--commit_message", default=None)
    card = parser.add_mutually_exclusive_group()
    card.add_argument("--model_card", choices=sorted(PAPER_VARIANTS), help="Write this paper variant's card first.")
    card.add_argument(
        "--model_card_from_run", action="store_true",
        help="Write the card from the folder's training_args.json and eval_results.json / all_results.json.",
    )  # fmt: skip
    parser.add_argument("--dataset_name", default=None, help="Training data name for a run's card.")
    parser.add_argument("--base_model", default=None, help="Hub id the run started from, for a run's card.")
    parser.add_argument("--render_paper_cards", metavar="DIR", help="Only render the paper variants' cards into DIR.")
    args = parser.parse_args(argv)
    if not args.render_paper_cards and not (args.folder and args.repo_id):
        parser.error("--folder and --repo_id are required (unless --render_paper_cards)")
    return args


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    if args.render_paper_cards:
        for path in write_paper_model_cards(args.render_paper_cards):
            print(path)
        return 0
    folder = Path(args.folder)
    if args.model_card:
        render_model_card(args.model_card, repo_id=args.repo_id).save(folder / "README.md")
    elif args.model_card_from_run:
        card = model_card_for_run(
            _read_json(folder / "training_args.json") or {},
            _read_json(folder / "eval_results.json") or _read_json(folder / "all_results.json"),
            model_name=args.repo_id.split("/")[-1], config=_read_json(folder / "config.json"), repo_id=args.repo_id,
            base_model=args.base_model, dataset_name=args.dataset_name,
        )  # fmt: skip
        card.save(folder / "README.md")
    try:
        url = push_checkpoint_to_hub(
            folder, args.repo_id, private=args.private, revision=args.revision, token=args.token,
            commit_message=args.commit_message, create_pr=args.create_pr,
        )  # fmt: skip
    except HubError as error:  # no token, no network, refused: what to do, without a traceback
        print(f"push_to_hub.py: error: {error}", file=sys.stderr)
        return 1
    print(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
