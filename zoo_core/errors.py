"""Every error the zoo raises on purpose. Each message names the problem and the fix, in one line.

Layer 0: imports nothing of the zoo, so any module can raise any of these without an import cycle.
"""

from __future__ import annotations


class ZooError(Exception):
    """Base class of every error the zoo raises on purpose."""


class UnknownModelError(ZooError, KeyError):
    """A model name that no catalogue entry or alias has."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnknownFrameworkError(ZooError, ValueError):
    """A framework name that is not torch / tf or one of their aliases."""


class FrameworkNotInstalledError(ZooError, ImportError):
    """A framework the request needs is not installed (the message names the extra)."""


class RegistryError(ZooError, ValueError):
    """An invalid catalogue (registry) file: the message has its file, line and reason."""


class ArchitectureUnavailableError(ZooError, LookupError):
    """A catalogue entry whose architecture no loaded plugin provides."""


class CheckpointError(ZooError, ValueError):
    """A checkpoint directory or file that cannot be read or does not fit the model."""

    @classmethod
    def key_mismatch(cls, missing: list[str], unexpected: list[str]) -> CheckpointError:
        """The checkpoint's tensor names differ from the model's."""
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        return cls(
            "the checkpoint's tensors do not match the model: " + "; ".join(parts)
            + ". Check that the architecture and config match, or pass strict=False to load what fits and report "
            "the rest"
        )

    @classmethod
    def shape_mismatch(cls, key: str, got: tuple, expected: tuple) -> CheckpointError:
        """A tensor of the checkpoint has another shape than the model's."""
        hint = ""
        if got and expected and len(got) == len(expected) and got[1:] == expected[1:] and got[0] != expected[0]:
            hint = (f"; the output size differs ({got[0]} vs {expected[0]}): if this is the classifier, the "
                    f"checkpoint has {got[0]} classes; pass num_classes={expected[0]} to re-initialise only the head")
        elif len(got) == 4 and len(expected) == 4 and got[1] != expected[1]:
            hint = f"; the input channels differ ({got[1]} vs {expected[1]}): check in_chans"
        return cls(f"tensor {key!r} has shape {got} in the checkpoint but {expected} in the model{hint}")


class StageError(ZooError, ValueError):
    """A stage name that the model's architecture does not have."""


class DataError(ZooError, ValueError):
    """A dataset that cannot be used as given (empty, one class, missing split, unknown name, bad image)."""


class HubError(ZooError):
    """A Hub operation failed; the message says why and what to do."""


class DistributedError(ZooError):
    """A distributed run that cannot start (bad environment) or that lost a worker."""


class ExportError(ZooError):
    """An export that could not be written or did not match its source model."""


class BenchError(ZooError, ValueError):
    """A benchmark that cannot run as asked (bad setting, a measurement process that failed)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM received by the ``zoo`` command (a scheduler's preemption, ``kill``, torchrun stopping its
    workers), raised like Ctrl-C so that work in progress is saved the same way; the command exits with 143."""


class ConversionError(ZooError, ValueError):
    """A torch model the PyTorch-to-Keras converter cannot convert, or converts with logits beyond tolerance."""
