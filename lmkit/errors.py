"""Typed errors. Every failure a user can cause is an LmkitError whose message
is one line naming the bad file, option or value; the CLI prints it and exits 1."""


class LmkitError(Exception):
    """Base class: the CLI turns these into `error: <message>` and exit code 1."""


class CorpusError(LmkitError):
    """A corpus cannot be fetched, read or split."""


class TokenizerError(LmkitError):
    """A tokenizer cannot be built, loaded or applied."""


class MissingPackageError(TokenizerError):
    """An optional package this input needs (jieba for --segment jieba) is not installed."""


class VocabError(LmkitError):
    """A vocabulary is invalid or cannot be built with the given cutoffs."""


class ConfigError(LmkitError):
    """An option or hyperparameter is out of range or inconsistent."""


class CheckpointError(LmkitError):
    """A model directory is missing files, incompatible or unsafe."""


class ArpaError(LmkitError):
    """An ARPA file is malformed; the message names the line."""


class TrainingError(LmkitError):
    """Training cannot continue (NaN loss, data too small, ...)."""
