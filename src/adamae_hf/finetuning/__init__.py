"""Fine-tuning and the paper's multi-view evaluation, as reusable pieces of `scripts/run_finetuning.py`.

- `models`: [`build_model_for_finetuning`], an [`AdaMAEForVideoClassification`] from an AdaMAE pre-training
  checkpoint (decoder and sampler dropped), a fine-tuned AdaMAE, a transformers VideoMAE checkpoint, or a config
  (from scratch); [`checkpoint_label_names`].
- `evaluation`: [`multiview_average`] (softmax scores averaged over the `V = K x S` views, K temporal clips x S
  spatial crops, of each video, fully vectorised), [`compute_video_metrics`], [`confusion_matrix`],
  [`plot_confusion_matrix`]: top-1 / top-5 / per-class accuracy through the `evaluate` metric shipped in
  [`adamae_hf.metrics`], and a confusion-matrix PNG.
- `trainer`: [`VideoClassificationTrainer`], a `transformers.Trainer` with the released recipe's optimizer (AdamW with
  layer-wise lr decay, no weight decay on biases / norms / position embeddings), mixup / cutmix with label-smoothed
  soft targets applied batch-wise in `compute_loss`, and a multi-view `prediction_step`; a resume's checks.
"""

from .evaluation import *  # noqa: F403
from .evaluation import __all__ as _evaluation
from .models import *  # noqa: F403
from .models import __all__ as _models
from .trainer import *  # noqa: F403
from .trainer import __all__ as _trainer


__all__ = [*_evaluation, *_models, *_trainer]
