"""The training scripts' parts, one module per job:

- `arguments`: the options both scripts share, the help formatter, the pre-training recipes, argument checks;
- `errors`: `ArgumentError`, `NonFiniteLossError` and the scripts' shared `__main__` error handling;
- `models`: the pre-training config and model (preset, config file, AdaMAE or VideoMAE checkpoint);
- `clips`: the fixed clips of the figures and focus metrics;
- `processes`: DataLoader workers and signals (`GracefulStop`);
- `checkpointing`: crash-safe checkpoints, `TrainingState`, resume position and schedule length;
- `tracking`: arguments for trackers and the focus-metrics summary line.

`adamae_hf.finetuning` holds the fine-tuning `Trainer`, model loading and the multi-view evaluation.
"""

from .arguments import *  # noqa: F403
from .arguments import __all__ as _arguments
from .checkpointing import *  # noqa: F403
from .checkpointing import __all__ as _checkpointing
from .clips import *  # noqa: F403
from .clips import __all__ as _clips
from .errors import *  # noqa: F403
from .errors import __all__ as _errors
from .models import *  # noqa: F403
from .models import __all__ as _models
from .processes import *  # noqa: F403
from .processes import __all__ as _processes
from .tracking import *  # noqa: F403
from .tracking import __all__ as _tracking


__all__ = [*_arguments, *_checkpointing, *_clips, *_errors, *_models, *_processes, *_tracking]
