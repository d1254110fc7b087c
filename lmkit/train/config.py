"""TrainConfig: every knob of the training loop, with its default, its help text and its check.

This class is the one source of those defaults: `lmkit train`'s options are generated from
it (lmkit.commands.options), so `Trainer(model, ..., TrainConfig())` trains what `lmkit train`
trains, and --resume, the baseline suite and config.json read the same fields. Two defaults
depend on the run: the LR and weight decay on the tokenizer (with_tokenizer_defaults, which the
Trainer applies too), and the batch and window on the tokenizer and the machine (default_shape),
which `lmkit train` applies where it chooses the run's shape (lmkit.commands.train_fit); a Trainer
given TrainConfig() trains 16 x 128 everywhere. Where and in what a run computes follow from
--device and --precision here too: select_device, and training_precision (fp32 for a model that
writes its own gradients, whatever auto would choose).
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, replace

import torch

from lmkit.config.from_json import from_json
from lmkit.config.machine import DEFAULT_PRECISION, PRECISIONS, Precision, resolve_precision
from lmkit.config.settings import LARGEST_SEED, check_settings, setting
from lmkit.errors import ConfigError
from lmkit.models.base import HandWrittenGradients

OPTIMIZERS = ("sgd", "adamw")
ON_NAN = ("stop", "rollback")
SCHEDULES = ("cosine", "linear", "plateau")  # lmkit.train.schedule
# --batch-size's default: 16 x 128 was chosen on an AVX2 CPU's step costs (benchmarks/default_recipe.py). In bf16 on
# AMX a batch of 32 reads 1.5 times the characters per second, and the main job at 32 (LR 2e-2) beat 16 on valid
# and test; held to AVX2 (fp32) 32 reads about as many characters as 16 and did not gain (benchmarks/RESULTS.md,
# "A batch of 32 where the CPU has AMX").
DEFAULT_BATCH_SIZE = 16
AMX_CHAR_BATCH_SIZE = 32
DEFAULT_BPTT = 128
# Word and subword models: 32 windows of 35 tokens (the shape of Zaremba et al. and pytorch/examples) beat 16 x 128
# side by side on pku98 words, test perplexity 335.7 against 404.8 in 480 s (benchmarks/RESULTS.md, "Word models by
# default"): about as many tokens, but 1.7 times the steps.
WORD_LEVEL_SHAPE = (32, 35)


def default_shape(tokenizer_kind: str, on_amx: bool) -> tuple[int, int]:
    """(--batch-size, --bptt) by default for a tokenizer's kind, where training runs in bf16 on AMX (`on_amx`) or
    not: TrainConfig's own (16 x 128) but for characters on AMX and for words and subwords."""
    if tokenizer_kind != "char":
        return WORD_LEVEL_SHAPE
    return AMX_CHAR_BATCH_SIZE if on_amx else DEFAULT_BATCH_SIZE, DEFAULT_BPTT


# adamw on characters: the main job's. 1e-2 was chosen on budgets of about one pass (benchmarks/default_recipe.py);
# without weight decay, 6e-3 was better on the 5-8k steps a CPU trains in its 480 s; with the decay (below), 1e-2
# beat 6e-3 again side by side on valid and test, and 1.4e-2 was level with 1e-2 (benchmarks/RESULTS.md,
# "The default LR with weight decay")
DEFAULT_LR = {"adamw": 1e-2, "sgd": 20.0}
# adamw on characters from a batch of 32 up: 2e-2 beat 1e-2 at batch 32 (benchmarks/default_recipe.py), and trained
# the main job's best model at the AMX batch
WIDE_BATCH_LR = {"adamw": 2e-2}
# AdamW at 1e-2 trains word and subword vocabularies worse than at 3e-3 (valid perplexity, benchmarks/RESULTS.md:
# pku98 words 1,967 at step 948 against 472 at step 800; Shakespeare words 716 against 639 after 480 s)
WORD_LEVEL_LR = {"adamw": 3e-3}


# AdamW's decoupled weight decay on characters: the main job reads its text 3-6 times, and 0.1 beat none side by
# side on valid and test; 0.3 and 1.0 lost, and 0.05 and 0.2 were level with each other (benchmarks/RESULTS.md,
# "Weight decay on characters"). SGD's L2 penalty was not measured with it: it keeps none.
CHAR_LEVEL_WEIGHT_DECAY = {"adamw": 0.1}
# On words and subwords without it, a 2 x 256 LSTM over pku98's 50,756 words stalled at test perplexity 2,530 in
# 480 s; with 0.1, 399.1 (dropout 0.1 alone: 409.8; both: 378.3; benchmarks/RESULTS.md, "Word models by default").
WORD_LEVEL_WEIGHT_DECAY = {"adamw": 0.1}


def default_lr(optimizer: str, tokenizer_kind: str, batch_size: int) -> float:
    """--lr's default: each optimizer's own, AdamW's smaller on word and subword vocabularies and larger on
    characters from a batch of AMX_CHAR_BATCH_SIZE up."""
    if tokenizer_kind != "char" and optimizer in WORD_LEVEL_LR:
        return WORD_LEVEL_LR[optimizer]
    if batch_size >= AMX_CHAR_BATCH_SIZE and optimizer in WIDE_BATCH_LR:
        return WIDE_BATCH_LR[optimizer]
    return DEFAULT_LR[optimizer]


def default_weight_decay(optimizer: str, tokenizer_kind: str) -> float:
    """--weight-decay's default: AdamW's on characters, and on words and subwords; none for SGD."""
    levels = CHAR_LEVEL_WEIGHT_DECAY if tokenizer_kind == "char" else WORD_LEVEL_WEIGHT_DECAY
    return levels.get(optimizer, 0.0)


# The main job: `lmkit train` alone trains a character LSTM on Shakespeare in under 10 minutes on 2 CPU cores
# (fetch, encoding and the final validation and test passes included); the recipe (batch, LR, schedule) was chosen
# for this budget by measurement: benchmarks/default_recipe.py, benchmarks/RESULTS.md. 480 s until 2026-12-07 left
# about 100 s of the 10 minutes unused (the whole job took 8 min 12 s to 8 min 17 s on every CPU measured, a fresh
# fetch 6 s more); 540 s takes 9 min 9 s in all and tested 1.8413 bits/char against 480 s's 1.8533, side by side
# on a bf16 AMD EPYC (benchmarks/RESULTS.md, "Nine of the ten minutes").
DEFAULT_MAX_TIME = 540.0
LARGEST_COUNT = 2**40      # bounds on step and token counts: far beyond any run, small enough to stay exact


@dataclass
class TrainConfig:
    epochs: int = setting(20, "Passes over the training split.", low=1, high=LARGEST_COUNT)
    max_steps: int | None = setting(None, "Stop after this many optimizer steps (the whole run, resumes included).",
                                    low=1, high=LARGEST_COUNT)
    max_time: float | None = setting(DEFAULT_MAX_TIME, "Stop after this many seconds of training (the whole run, "
                                     "resumes included; 0: no time limit).", low=0, high=1e9)
    batch_size: int = setting(DEFAULT_BATCH_SIZE, "Parallel streams B (a bidirectional model: B x --bptt tokens of "
                              f"whole lines a step); {AMX_CHAR_BATCH_SIZE} on characters where training runs in bf16 "
                              f"on AMX, {WORD_LEVEL_SHAPE[0]} on words and subwords.", low=1, high=2**20)
    bptt: int = setting(DEFAULT_BPTT, f"Tokens per truncated-BPTT window; {WORD_LEVEL_SHAPE[1]} on words and subwords.",
                        low=1, high=2**20)
    variable_bptt: bool = setting(False, "Draw each window's length around --bptt (normal, sd 5; around bptt/2 one time "
                                  "in 20) and scale its LR by length/bptt (AWD-LSTM).")
    line_start_resets: bool = setting(True, "A row whose window begins at a line end starts it from the zero state, "
                                      "as every reading from nothing (eval, generate, fill) starts a line.")
    optimizer: str = setting("adamw", "Optimizer.", choices=OPTIMIZERS)
    lr: float | None = setting(None, "Learning rate [default: " + ", ".join(
        f"{DEFAULT_LR[k]:g} for {k}" + (f" ({WIDE_BATCH_LR[k]:g} on characters from --batch-size {AMX_CHAR_BATCH_SIZE}, "
                                        f"{WORD_LEVEL_LR[k]:g} on words and subwords)" if k in WORD_LEVEL_LR else "")
        for k in DEFAULT_LR) + "].", low=0, low_open=True, high=1e6)
    weight_decay: float | None = setting(None, "Weight decay (decoupled for adamw) [default: " + ", ".join(
        f"{CHAR_LEVEL_WEIGHT_DECAY[k]:g} with {k} on characters, {WORD_LEVEL_WEIGHT_DECAY[k]:g} on words and subwords"
        for k in CHAR_LEVEL_WEIGHT_DECAY) + "; 0 with " + ", ".join(o for o in OPTIMIZERS if o not in
                                                                   CHAR_LEVEL_WEIGHT_DECAY) + "].", low=0, high=1e3)
    schedule: str = setting("cosine", "LR schedule: warm-up, then cosine or linear decay to 0 at the end of the budget "
                            "(--max-time, --max-steps or --epochs, whichever ends first); plateau: divide the LR by "
                            "--lr-decay when validation stops improving.", choices=SCHEDULES)
    warmup: float = setting(0.02, "Fraction of the budget over which the LR rises from 0 (cosine and linear).",
                            low=0, high=1, high_open=True)
    lr_decay: float = setting(4.0, "With --schedule plateau: divide the LR by this when validation stops improving "
                              "(1: never).", low=1, high=1e6)
    ar: float = setting(0.0, "Activation regularisation: add AR * mean(h^2) of the top layer's outputs (after "
                        "--out-dropout) to the loss.", low=0, high=1e3)
    tar: float = setting(0.0, "Temporal activation regularisation: add TAR * mean((h_t - h_{t-1})^2) of the top "
                         "layer's outputs to the loss.", low=0, high=1e3)
    rare_unk: float = setting(0.0, "Replace each occurrence of a token seen once in the training text by <unk> with "
                              "this probability, so the model learns how often unknown tokens come.", low=0, high=1)
    asgd: bool = setting(False, "Averaged weights (NT-ASGD): once validation has not improved for --nonmono "
                         "evaluations, validate and save the running mean of the weights from then on.")
    nonmono: int = setting(5, "With --asgd: evaluations without improvement before averaging starts.",
                           low=1, high=LARGEST_COUNT)
    clip: float | None = setting(1.0, "Max gradient norm (0 disables).", low=0, high=1e9)
    patience: int = setting(3, "Evaluations without improvement before stopping (under cosine or linear, only "
                            "those in the budget's last quarter count; with --asgd: once averaging has started).",
                            low=1, high=LARGEST_COUNT)
    eval_every: int | None = setting(800, "Steps between validations (and at each epoch end).", low=1, high=LARGEST_COUNT)
    save_every: int | None = setting(None, "Steps between resumable checkpoints besides each validation.",
                                     low=1, high=LARGEST_COUNT)
    eval_rows: int = setting(16, "Parallel rows when validating.", low=1, high=2**20, cli=False)
    device: str = setting("auto", "auto, cpu, cuda, cuda:N or mps.")
    precision: str = setting(DEFAULT_PRECISION, "bf16: matmuls in bf16 (softmax and loss in fp32); auto: bf16 where the "
                             "device has bf16 units (AVX512_BF16, AMX, or a CUDA GPU with bf16), else fp32.",
                             choices=PRECISIONS)
    seed: int = setting(1234, "Seed of the initial weights, dropout and batch order. A run repeats exactly while "
                        "its steps stay ahead of the clock: the LR schedule follows whichever of --max-steps and "
                        "--max-time is further along, so with --max-time 0 a --max-steps run always repeats.",
                        low=0, high=LARGEST_SEED)
    compile: bool = setting(False, "torch.compile the model.")
    on_nan: str = setting("stop", "On a NaN/inf loss: stop keeping the last good checkpoint, or roll back to it "
                          "with half the LR.", choices=ON_NAN)
    keep_freed_memory: bool = setting(True, "On CPU, let glibc reuse freed memory (fewer page faults).", cli=False)

    def with_tokenizer_defaults(self, tokenizer_kind: str) -> "TrainConfig":
        """This config with the LR and weight decay resolved, where not given, for its optimizer, its batch and the
        tokenizer's kind (char, word, spm): resolved once, before training, so config.json records the numbers used."""
        lr = default_lr(self.optimizer, tokenizer_kind, self.batch_size) if self.lr is None else self.lr
        decay = default_weight_decay(self.optimizer, tokenizer_kind) if self.weight_decay is None else self.weight_decay
        return replace(self, lr=lr, weight_decay=decay)

    def validate(self) -> None:
        check_settings(self)
        problem = self.decay_problem()
        if problem is not None:
            raise ConfigError(f"--weight-decay {self.weight_decay:g} with --lr {self.lr:g}: {problem}")

    def decay_problem(self) -> str | None:
        """What is wrong with this LR and weight decay together, or None: AdamW's decay must shrink every weight
        by a factor above 0 (at the schedule's peak LR; below it, the factor stays positive)."""
        shrink = (self.lr or 0.0) * (self.weight_decay or 0.0)
        if self.optimizer == "adamw" and shrink >= 1:
            return (f"AdamW multiplies every weight by 1 - lr x weight decay = {1 - shrink:g} each step; keep lr x "
                    "weight decay below 1 (the decay is 0.1 by default; --weight-decay 0 turns it off)")
        return None

    @property
    def time_limit(self) -> float | None:
        """Seconds of training allowed in this process, or None (max_time 0 or None: no limit)."""
        return self.max_time or None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, obj: dict, where: str = "train config") -> "TrainConfig":
        """From saved JSON-like settings: each value's type checked (naming `where` and the key), unknown keys ignored."""
        if isinstance(obj, dict) and "lr_decay" in obj and "schedule" not in obj:  # saved before schedules existed:
            obj = {**obj, "schedule": "plateau"}                                    # the run used the plateau rule
        return from_json(cls, obj, where)


DEVICE_TYPES = ("cpu", "cuda", "mps")


def select_device(name: str, said: str | None = None) -> torch.device:
    """'auto' picks cuda, then mps, then cpu; an explicit name must be available. `said`: how an error names
    the value (by default `--device NAME`)."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        with warnings.catch_warnings():  # torch's own line about a name it deprecates (mkldnn): refused below anyway
            warnings.simplefilter("ignore")
            device = torch.device(name)
    except RuntimeError as exc:
        said = said or f"--device {name!r}"
        raise ConfigError(f"{said} is not a device name (try auto, cpu, cuda, cuda:1, mps)") from exc
    said = said or f"--device {name}"
    if device.type not in DEVICE_TYPES:  # torch knows xla, xpu, meta, ...: each failed later with a traceback
        raise ConfigError(f"{said}: lmkit runs on {', '.join(DEVICE_TYPES)} (or auto, which picks one); not on "
                          f"{device.type}")
    if device.type == "cpu" and device.index is not None:  # torch ignores it, and the records would show it
        raise ConfigError(f"{said}: the CPU takes no index (--threads sets how many cores); give cpu")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{said}: CUDA is not available on this machine")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError(f"{said}: MPS is not available on this machine")
    return device


HAND_WRITTEN_FP32 = "its hand-written BPTT computes in fp32"


def training_precision(requested: str, device, model) -> Precision:
    """resolve_precision for training `model`: a model that fills its own gradients (HandWrittenGradients, the
    scratch RNN) computes them in fp32 whatever autocast says, so auto gives fp32 there and says why, and an
    explicit bf16 is refused (the run and its records would say bf16 of an fp32 run)."""
    precision = resolve_precision(requested, device)
    if not isinstance(model, HandWrittenGradients) or precision.name == "fp32":
        return precision
    if requested == "bf16":
        raise ConfigError(f"--precision bf16: the scratch RNN cannot train in bf16 ({HAND_WRITTEN_FP32}); use "
                          "--precision auto or fp32")
    return Precision("fp32", requested, f"the scratch RNN: {HAND_WRITTEN_FP32}")
