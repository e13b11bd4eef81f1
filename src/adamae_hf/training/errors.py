"""The training scripts' errors and their shared `__main__` error handling.

[`ArgumentError`] is an argument that cannot work (exit code 2, as argparse's own errors); [`NonFiniteLossError`]
a NaN / inf training loss (exit code 1). [`run_script`] maps them, an unreadable video raised in a DataLoader
worker and a failed push to the Hub (`adamae_hf.hub.HubError`) to a short message on stderr and the exit code.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any


__all__ = ["ArgumentError", "NonFiniteLossError", "run_script"]


class ArgumentError(ValueError):
    """A command-line argument that cannot work; raised before any training."""


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite."""


def run_script(main: Callable[[], Any], script: str) -> None:
    """Run a training script's `main()` and exit: with its return value where it is an `int` (an exit code), else 0;
    with 2 and `"<script>: error: <message>"` for an [`ArgumentError`] (or a recipe that cannot apply,
    `adamae_hf.recipes.RecipeError`); with 1 for a [`NonFiniteLossError`], data that cannot be used
    (`adamae_hf.data.DataSourceError`, a missing file or folder, an empty class folder, a dangling link) or an
    unreadable video (`adamae_hf.data.VideoReadError`, whose message from a DataLoader worker ends with the file and
    the reason); with 130 for a Ctrl-C that interrupts at once (the second one: [`GracefulStop`])."""
    from ..data import DataSourceError, VideoReadError
    from ..hub import HubError
    from ..recipes import RecipeError

    name = os.path.basename(script)
    try:
        result = main()
    except (ArgumentError, RecipeError) as error:
        print(f"{name}: error: {error}", file=sys.stderr)
        sys.exit(2)
    except HubError as error:  # the push at the end: no token, no network, refused (the model is saved)
        print(f"{name}: error: {error}", file=sys.stderr)
        sys.exit(1)
    except NonFiniteLossError as error:
        print(f"{name}: {error}", file=sys.stderr)
        sys.exit(1)
    except (DataSourceError, FileNotFoundError, NotADirectoryError) as error:  # the data the arguments name
        print(f"{name}: error: {_message(error)}", file=sys.stderr)
        sys.exit(1)
    except VideoReadError as error:
        print(f"{name}: error: {_message(error)} (--on_bad_video skip leaves unreadable videos out)", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:  # a second Ctrl-C, after the first asked for a checkpoint at the end of the step
        print(f"{name}: interrupted at once (a second Ctrl-C): no checkpoint saved after the last one", file=sys.stderr)
        sys.exit(130)
    sys.exit(result if isinstance(result, int) else 0)


def _message(error: BaseException) -> str:
    """The error's own message; from a DataLoader worker (re-raised with the worker's traceback in the message) the
    last line, without the exception's class name."""
    text = str(error).strip()
    if "Original Traceback" not in text:
        return text
    last = text.splitlines()[-1]
    return last.split(": ", 1)[1] if ": " in last else last
