# Copyright 2026 The adamae-hf authors. Licensed under the MIT License.
"""Model cards and Hub publishing for AdaMAE checkpoints.

- [`render_model_card`]: the card of a paper variant (the authors' released weights, converted), with the paper's
  reported results in `model-index`, marked as reported by the paper.
- [`model_card_for_run`]: the card of a checkpoint trained with this package's scripts, from that run's own
  arguments and measured evaluation results.
- [`push_checkpoint_to_hub`]: upload a saved checkpoint folder (safetensors weights, config with `auto_map`,
  modeling code, processor config, model card) in one commit with `HfApi.create_commit`.

Card templates ship inside the package (`adamae_hf/model_cards/*.md`, Jinja rendered by
`huggingface_hub.ModelCard.from_template`); the repository's `model_cards/` holds the rendered paper cards.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from huggingface_hub import CommitOperationAdd, EvalResult, HfApi, ModelCard, ModelCardData
from huggingface_hub.errors import HfHubHTTPError, HTTPError, LocalTokenNotFoundError, OfflineModeIsEnabled
from huggingface_hub.utils import HFValidationError, validate_repo_id

from .modeling_adamae import AUTO_CLASSES


logger = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).parent / "model_cards"
PAPER_URL = "https://arxiv.org/abs/2211.09120"
CODE_URL = "https://github.com/wgcban/adamae"
PAPER_SOURCE = "AdaMAE paper (Bandara et al., CVPR 2023)"
CITATION = """@inproceedings{bandara2023adamae,
  title     = {AdaMAE: Adaptive Masking for Efficient Spatiotemporal Learning with Masked Autoencoders},
  author    = {Bandara, Wele Gedara Chaminda and Patel, Naman and Gholami, Ali and Nikkhah, Mehdi and
               Agrawal, Motilal and Patel, Vishal M.},
  booktitle = {Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  year      = {2023}
}"""
BASE_TAGS = ["adamae", "video", "vision", "masked-autoencoder", "self-supervised-learning"]

# Files a pushed repository holds (patterns relative to the checkpoint folder); everything else in the folder
# (optimizer / scheduler / RNG states, `checkpoint-*` sub-folders, pickles, logs) stays local.
UPLOAD_PATTERNS = [
    "README.md",
    "config.json",
    "preprocessor_config.json",
    "video_preprocessor_config.json",
    "model.safetensors",
    "model-*-of-*.safetensors",
    "model.safetensors.index.json",
    "configuration_adamae.py",
    "modeling_adamae.py",
    "all_results.json",
    "train_results.json",
    "eval_results.json",
]
REMOTE_CODE_FILES = ("configuration_adamae.py", "modeling_adamae.py")
# The sampler picture of a pre-training run's end (scripts/run_pretraining.py), uploaded and shown on the card.
HEATMAP_IMAGE = "visualizations/final_clip0.png"
PROCESSOR_FILES = ("video_preprocessor_config.json", "preprocessor_config.json")


@dataclass(frozen=True)
class DatasetInfo:
    """A pre-training / fine-tuning dataset of the paper."""

    hub_id: str
    name: str
    num_classes: int
    temporal_stride: int
    flip: bool
    views: str
    finetuning_lr: str


DATASETS = {
    "ssv2": DatasetInfo("something-something-v2", "Something-Something V2", 174, 2, False, "2x3", "1.5e-4"),
    "k400": DatasetInfo("kinetics-400", "Kinetics-400", 400, 4, True, "5x3", "1e-3"),
}

# (pre-training, fine-tuning) -> (top-1, top-5, views, where in the paper). ViT-B, 800 epochs, 16 frames.
PAPER_RESULTS: dict[tuple[str, str], tuple[float, float, str, str]] = {
    ("ssv2", "ssv2"): (70.04, 92.70, "2x3", "Table 2"),
    ("k400", "k400"): (81.7, 95.2, "5x3", "Table 3"),
    ("k400", "ssv2"): (69.9, 92.7, "2x3", "Sec. 4.3, transferability"),
    ("ssv2", "k400"): (81.2, 94.5, "5x3", "Sec. 4.3, transferability"),
}


@dataclass(frozen=True)
class PaperVariant:
    """A released checkpoint: pre-trained on `pretraining`, and fine-tuned on `finetuning` if not `None`."""

    pretraining: str
    finetuning: str | None = None


PAPER_VARIANTS: dict[str, PaperVariant] = {
    "adamae-base-ssv2": PaperVariant("ssv2"),
    "adamae-base-finetuned-ssv2": PaperVariant("ssv2", "ssv2"),
    "adamae-base-k400": PaperVariant("k400"),
    "adamae-base-finetuned-k400": PaperVariant("k400", "k400"),
}


# ---------------------------------------------------------------------------------------------------------------
# Model cards
# ---------------------------------------------------------------------------------------------------------------
def render_model_card(variant: str, repo_id: str | None = None) -> ModelCard:
    """
    The model card of a paper variant (a key of [`PAPER_VARIANTS`], e.g. `"adamae-base-ssv2"`).

    Fine-tuned variants get `pipeline_tag: video-classification` and a `model-index` with the paper's reported
    top-1 / top-5 (`source` names the paper and its table; `verified: false`). Pre-trained variants list the
    paper's downstream results in the card's text only (a pre-trained encoder classifies nothing by itself).

    Args:
        variant: the variant name.
        repo_id: the repository the card's code loads from; defaults to `variant` (a local directory).
    """
    if variant not in PAPER_VARIANTS:
        raise ValueError(f"Unknown AdaMAE variant {variant!r}; known: {', '.join(PAPER_VARIANTS)}.")
    info = PAPER_VARIANTS[variant]
    pretraining = DATASETS[info.pretraining]
    finetuned = info.finetuning is not None
    target = DATASETS[info.finetuning] if finetuned else pretraining

    if finetuned:
        top1, top5, views, where = PAPER_RESULTS[(info.pretraining, info.finetuning)]
        source = f"{PAPER_SOURCE}, {where}"
        eval_results = [
            EvalResult(
                task_type="video-classification", task_name="Video Classification", dataset_type=target.hub_id,
                dataset_name=target.name, dataset_split="validation", metric_type=metric, metric_name=name,
                metric_value=value, metric_config=f"{views} views", source_name=source, source_url=PAPER_URL,
                verified=False,
            )  # fmt: skip
            for metric, name, value in (("accuracy", "Top-1 accuracy", top1), ("top_5_accuracy", "Top-5 accuracy", top5))
        ]
        results = [(info.pretraining, info.finetuning)]
    else:
        eval_results = None
        results = [(info.pretraining, name) for name in DATASETS]
    card_data = ModelCardData(
        license="mit",
        library_name="transformers",
        pipeline_tag="video-classification" if finetuned else None,
        tags=BASE_TAGS + (["video-classification"] if finetuned else ["pretraining"]),
        datasets=sorted({pretraining.hub_id, target.hub_id}),
        metrics=["accuracy", "top_5_accuracy"] if finetuned else None,
        model_name=variant,
        eval_results=eval_results,
    )
    summary = (
        f"AdaMAE ViT-B/16 pre-trained on {pretraining.name} and fine-tuned on {target.name} for action "
        f"classification ({target.num_classes} classes)."
        if finetuned
        else f"AdaMAE ViT-B/16 pre-trained (self-supervised, 95 % adaptive masking) on {pretraining.name}."
    )
    rows = []
    for pre, fine in results:
        top1, top5, views, where = PAPER_RESULTS[(pre, fine)]
        rows.append(
            {
                "pretraining": DATASETS[pre].name, "finetuning": DATASETS[fine].name, "views": views,
                "top1": f"{top1:.2f}", "top5": f"{top5:.2f}", "source": f"paper, {where}",
            }  # fmt: skip
        )
    return ModelCard.from_template(
        card_data,
        template_path=str(TEMPLATES_DIR / "paper_model_card.md"),
        model_name=variant,
        summary=summary,
        paper_url=PAPER_URL,
        code_url=CODE_URL,
        finetuned=finetuned,
        architecture="AdaMAEForVideoClassification" if finetuned else "AdaMAEForPreTraining",
        auto_class="AutoModelForVideoClassification" if finetuned else "AutoModelForPreTraining",
        repo_id=repo_id or variant,
        pretraining_dataset_name=pretraining.name,
        pretraining_epochs=800,
        pretraining_stride=pretraining.temporal_stride,
        pretraining_flip=pretraining.flip,
        trained_on=pretraining.name if pretraining == target else f"{pretraining.name} and {target.name}",
        dataset_name=target.name,
        num_classes=target.num_classes,
        finetuning_lr=target.finetuning_lr,
        views=target.views,
        results=rows,
        citation=CITATION,
    )


def write_paper_model_cards(directory: str | os.PathLike) -> list[Path]:
    """Render every paper variant's card to `directory/<variant>.md`; returns the paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for variant in PAPER_VARIANTS:
        path = directory / f"{variant}.md"
        render_model_card(variant).save(path)
        paths.append(path)
    return paths


_SKIPPED_METRICS = ("runtime", "samples_per_second", "steps_per_second", "epoch", "total_flos", "memory")


def _metric_type(name: str) -> str:
    """The `model-index` metric type of a run's metric name (`eval_top1` -> `accuracy`)."""
    name = name.lower().removeprefix("eval_").removeprefix("test_")
    if name in ("top1", "acc1", "top_1", "acc", "accuracy", "top1_accuracy", "top_1_accuracy"):
        return "accuracy"
    if name in ("top5", "acc5", "top_5", "top5_accuracy", "top_5_accuracy"):
        return "top_5_accuracy"
    return name


def hub_id(name: str | os.PathLike | None) -> str | None:
    """`name` where it is a Hub repository id (`"user/model"`, `"ucf101"`), else `None`: a local file or folder (an
    existing path, or one written as a path: absolute, `./`, `../`, `~`), or a string `huggingface_hub`'s
    `validate_repo_id` rejects. The Hub rejects card metadata (`base_model`, `datasets`) that are not repository ids."""
    if name is None:
        return None
    text = os.fspath(name)
    if os.path.exists(text) or text.startswith((".", "/", "~", os.sep)) or (os.altsep and os.altsep in text):
        return None
    try:
        validate_repo_id(text)
    except HFValidationError:
        return None
    return text


def _hub_ids_only(card: ModelCard) -> list[str]:
    """Move the `base_model` / `datasets` entries of `card`'s metadata that are no Hub ids into its text; returns
    them (empty where the card was already clean)."""
    moved = []
    for key in ("base_model", "datasets"):
        value = getattr(card.data, key, None)
        if value is None:
            continue
        values = [value] if isinstance(value, str) else list(value)
        kept = [v for v in values if hub_id(v) is not None]
        if len(kept) < len(values):
            moved += [f"{key}: {v}" for v in values if hub_id(v) is None]
            setattr(card.data, key, (kept[0] if isinstance(value, str) else kept) if kept else None)
    if moved:
        card.text = card.text.rstrip("\n") + "\n\n## Local sources\n\n" + "".join(f"- {m}\n" for m in moved)
    return moved


def model_card_for_run(
    training_args: dict[str, Any],
    eval_results: dict[str, Any] | None,
    *,
    model_name: str,
    config: Any | None = None,
    repo_id: str | None = None,
    base_model: str | None = None,
    dataset_name: str | None = None,
    dataset_id: str | None = None,
    tags: list[str] | None = None,
    heatmap_image: str | None = None,
) -> ModelCard:
    """
    The card of a checkpoint trained with this package's scripts, from that run's own arguments and measured results.

    Args:
        training_args: the run's arguments (e.g. `vars(args)` or `TrainingArguments.to_dict()`), shown as a table.
        eval_results: measured metrics (e.g. `{"eval_top1": 68.2, "eval_top5": 91.0, "eval_loss": 1.3}`), or
            `None`. Numeric entries other than runtime / throughput / epoch go to the card and, for a classifier,
            to `model-index` as the model's own (self-reported, unverified) results, not the paper's.
        model_name: the model's name (card title and `model-index` name).
        config: the model's `AdaMAEConfig` (or its dict); decides the task and fills the architecture table.
        repo_id: repository the card's code loads from; defaults to `model_name`.
        base_model: the Hub id (or local folder) this run started from, if any.
        dataset_name / dataset_id: the training data's display name and Hub id (or local folder), if any.
        tags: extra tags.
        heatmap_image: path, in the repository, of the run's sampler picture (frames, token probabilities, mask,
            reconstruction; [`HEATMAP_IMAGE`]), shown on the card.

    Only Hub ids ([`hub_id`]) go into the card's metadata (`base_model`, `datasets`, the `model-index` dataset),
    which the Hub checks; a local checkpoint or data folder is named in the card's text.
    """
    from .configuration_adamae import AdaMAEConfig

    if config is None:
        config = AdaMAEConfig()
    elif isinstance(config, dict):
        config = AdaMAEConfig.from_dict({k: v for k, v in config.items() if k != "transformers_version"})
    architectures = getattr(config, "architectures", None) or []
    is_classifier = "AdaMAEForVideoClassification" in architectures or (
        not architectures and eval_results is not None and any("top1" in k or "acc" in k for k in eval_results)
    )
    architecture = "AdaMAEForVideoClassification" if is_classifier else (architectures or ["AdaMAEForPreTraining"])[0]
    metrics = {
        k: v
        for k, v in (eval_results or {}).items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and not any(s in k for s in _SKIPPED_METRICS)
    }
    base_model_id, dataset_hub_id = hub_id(base_model), hub_id(dataset_id)
    metadata_dataset = dataset_hub_id or (Path(os.fspath(dataset_name)).name if dataset_name else None)
    card_eval_results = None
    if is_classifier and metrics and dataset_name:
        card_eval_results = [
            EvalResult(
                task_type="video-classification", dataset_type=metadata_dataset, dataset_name=metadata_dataset,
                metric_type=_metric_type(k), metric_name=k, metric_value=v, verified=False,
            )  # fmt: skip
            for k, v in metrics.items()
        ]
    card_data = ModelCardData(
        license="mit",
        library_name="transformers",
        pipeline_tag="video-classification" if is_classifier else None,
        tags=BASE_TAGS + (tags or []),
        datasets=[dataset_hub_id] if dataset_hub_id else None,
        base_model=base_model_id,
        model_name=model_name,
        eval_results=card_eval_results,
    )
    summary = (
        f"An AdaMAE video classifier ({config.num_labels} classes)" if is_classifier else "An AdaMAE pre-trained model"
    ) + (f" trained on {dataset_name}." if dataset_name else ".")
    return ModelCard.from_template(
        card_data,
        template_path=str(TEMPLATES_DIR / "run_model_card.md"),
        model_name=model_name,
        summary=summary,
        paper_url=PAPER_URL,
        base_model=base_model,
        base_model_on_hub=base_model_id is not None,
        architecture=architecture,
        auto_class="AutoModelForVideoClassification" if is_classifier else "AutoModelForPreTraining",
        is_classifier=is_classifier,
        heatmap_image=heatmap_image,
        repo_id=repo_id or model_name,
        config=config,
        dataset_name=dataset_name,
        training_args=sorted((k, _short(v)) for k, v in training_args.items()),
        eval_results=sorted(metrics.items()),
        citation=CITATION,
    )


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    text = text.replace("|", "\\|").replace("`", "'")
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------------------------------
# Pushing
# ---------------------------------------------------------------------------------------------------------------
def check_checkpoint_folder(folder: str | os.PathLike) -> dict[str, Any]:
    """
    Raise `ValueError` unless `folder` is a pushable AdaMAE checkpoint: `config.json` of `model_type="adamae"`
    with an `auto_map` naming the Auto classes, safetensors weights and the modeling code. Returns the config dict.
    """
    folder = Path(folder)
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise ValueError(f"{folder} has no config.json; save the model with `model.save_pretrained(folder)` first.")
    config = json.loads(config_file.read_text())
    if config.get("model_type") != "adamae":
        raise ValueError(f"{config_file} has model_type {config.get('model_type')!r}, expected 'adamae'.")
    auto_map = config.get("auto_map") or {}
    missing_code = [name for name in REMOTE_CODE_FILES if not (folder / name).is_file()]
    if missing_code or not all(name in auto_map for name in ("AutoConfig", *AUTO_CLASSES)):
        raise ValueError(
            f"{folder} lacks the modeling code ({missing_code or 'present'}) or the config's auto_map "
            f"({sorted(auto_map)}): `import adamae_hf` before `save_pretrained` so that both are written."
        )
    if not ((folder / "model.safetensors").is_file() or (folder / "model.safetensors.index.json").is_file()):
        raise ValueError(
            f"{folder} has no safetensors weights (model.safetensors); save with safe_serialization (the default)."
        )
    return config


def _read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


class HubError(RuntimeError):
    """A push that found no token, could not reach the Hub or was refused by it; the message (a few lines) says
    what to do."""


def _hub_failure(error: Exception, folder: Path, repo_id: str) -> HubError | None:
    """The [`HubError`] for a failure of the Hub calls (no token, refused, unreachable), `None` for any other."""
    from huggingface_hub import constants

    later = f"{folder} is unchanged; push it later with: python scripts/push_to_hub.py --folder {folder} --repo_id {repo_id}"
    status = getattr(getattr(error, "response", None), "status_code", None)
    if isinstance(error, LocalTokenNotFoundError) or status == 401:
        what = "no Hugging Face token found" if status is None else "the Hub refused the token (HTTP 401)"
        return HubError(f"{what}. Log in with `hf auth login`, set HF_TOKEN to a token with write access "
                        f"(huggingface.co/settings/tokens), or pass one (--token; --hub_token in the training scripts).\n{later}")  # fmt: skip
    if status == 403:
        return HubError(f"the Hub refused the push to {repo_id} (HTTP 403): the token has no write access to it; use "
                        f"a write token, or a --repo_id of your own user or organisation.\n{later}")  # fmt: skip
    if isinstance(error, OfflineModeIsEnabled):
        return HubError(f"HF_HUB_OFFLINE is set: unset it to push.\n{later}")
    if isinstance(error, (HTTPError, ConnectionError, TimeoutError)) and not isinstance(error, HfHubHTTPError):
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        return HubError(f"cannot reach the Hub at {constants.ENDPOINT} ({reason}). Check the network connection "
                        f"(and HF_ENDPOINT or a proxy if you set them).\n{later}")  # fmt: skip
    return None


def _hub_errors_explained(push):
    """Decorates [`push_checkpoint_to_hub`]: checks that a token exists, then turns the Hub calls' failures (no token,
    refused, unreachable) into a [`HubError`] saying what to do; any other error passes unchanged."""

    @functools.wraps(push)
    def wrapper(folder, repo_id, **kwargs):
        from huggingface_hub import get_token

        try:
            if not (kwargs.get("token") or get_token()):
                raise LocalTokenNotFoundError("no token")
            return push(folder, repo_id, **kwargs)
        except Exception as error:
            failure = _hub_failure(error, Path(folder), repo_id)
            if failure is None:
                raise
            raise failure from None

    return wrapper


@_hub_errors_explained
def push_checkpoint_to_hub(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    token: str | None = None,
    commit_message: str | None = None,
    create_pr: bool = False,
) -> str:
    """
    Upload a saved AdaMAE checkpoint folder to the Hub in one commit; returns the commit (or pull request) URL.

    Uploads the files of [`UPLOAD_PATTERNS`] found in `folder`: `config.json` (with `auto_map`),
    `model.safetensors` (or its shards and index), `configuration_adamae.py`, `modeling_adamae.py`,
    `video_preprocessor_config.json`, `preprocessor_config.json`, `README.md`, the `*_results.json` of a run and the
    sampler picture of a pre-training run ([`HEATMAP_IMAGE`]). If a processor config or the card are missing they
    are generated (the processors from `config.image_size` and `config.num_frames` at the default stride; the card
    with [`model_card_for_run`] from the folder's `training_args.json` and `eval_results.json` /
    `all_results.json`) and uploaded without touching the folder.

    Args:
        folder: the checkpoint folder (what `save_pretrained` wrote).
        repo_id: `"<user or org>/<name>"`; created if needed.
        private: create the repository as private (ignored if it exists).
        revision: branch to commit to (created from `main` if needed); default `main`.
        token: a Hub token; default the locally saved one.
        commit_message: default "Upload AdaMAE checkpoint".
        create_pr: open a pull request instead of committing directly.

    Raises:
        HubError: no token (`token`, `HF_TOKEN` or a saved login), the Hub unreachable, or the token refused; the
            message says what to do, in a few lines.
    """
    folder = Path(folder)
    config = check_checkpoint_folder(folder)
    api = HfApi(token=token)
    repo_url = api.create_repo(repo_id, private=private, exist_ok=True)
    repo_id = repo_url.repo_id
    if revision not in (None, "main") and not create_pr:
        api.create_branch(repo_id, branch=revision, exist_ok=True)

    files = sorted(
        path.relative_to(folder).as_posix()
        for path in folder.iterdir()
        if path.is_file() and any(fnmatch(path.name, pattern) for pattern in UPLOAD_PATTERNS)
    )
    left_out = sorted(p.name for p in folder.iterdir() if p.name not in files)
    if left_out:
        logger.info("Not uploading (training state / not part of a model repository): %s", left_out)
    heatmap = HEATMAP_IMAGE if (folder / HEATMAP_IMAGE).is_file() else None
    operations = [
        CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(folder / name)) for name in files + [heatmap] if name
    ]
    if "README.md" in files:  # a card written before its metadata was checked: local paths go to its text
        card = ModelCard.load(folder / "README.md")
        moved = _hub_ids_only(card)
        if moved:
            logger.warning("%s/README.md names local sources in its metadata, which the Hub rejects; uploading the "
                           "card with them in its text instead: %s", folder, "; ".join(moved))  # fmt: skip
            operations = [op for op in operations if op.path_in_repo != "README.md"]
            operations.append(CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=str(card).encode()))

    missing = [name for name in PROCESSOR_FILES if name not in files]
    if missing:
        from .data.processor import save_processor

        with tempfile.TemporaryDirectory() as tmp:
            save_processor(tmp, int(config.get("image_size", 224)), int(config.get("num_frames", 16)))
            for name in missing:
                logger.warning("%s has no %s; uploading the default eval processor.", folder, name)
                operations.append(CommitOperationAdd(path_in_repo=name, path_or_fileobj=(Path(tmp) / name).read_bytes()))
    if "README.md" not in files:
        logger.warning("%s has no README.md; generating a model card from the run's files.", folder)
        eval_results = _read_json(folder / "eval_results.json") or _read_json(folder / "all_results.json")
        card = model_card_for_run(
            _read_json(folder / "training_args.json") or {},
            eval_results,
            model_name=repo_id.split("/")[-1],
            config=config,
            repo_id=repo_id,
            heatmap_image=heatmap,
        )
        operations.append(CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=str(card).encode()))

    commit = api.create_commit(
        repo_id,
        operations=operations,
        commit_message=commit_message or "Upload AdaMAE checkpoint",
        revision=revision,
        create_pr=create_pr,
    )
    url = commit.pr_url if create_pr and commit.pr_url else commit.commit_url
    logger.info("Pushed %s to %s: %s", [op.path_in_repo for op in operations], repo_id, url)
    return url


__all__ = [
    "DATASETS",
    "HEATMAP_IMAGE",
    "HubError",
    "PAPER_RESULTS",
    "PAPER_VARIANTS",
    "UPLOAD_PATTERNS",
    "check_checkpoint_folder",
    "hub_id",
    "model_card_for_run",
    "push_checkpoint_to_hub",
    "render_model_card",
    "write_paper_model_cards",
]
