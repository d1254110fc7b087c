"""A batch and window that fit the training text.

The defaults (64 streams x 128 tokens) suit a corpus of megabytes. On a short
file they leave one step per epoch: early stopping ends the run in seconds
with gibberish. `fitted_shape` halves the window and the streams until an
epoch has MIN_STEPS_PER_EPOCH steps (or nothing smaller is sensible).
"""
from __future__ import annotations

MIN_STEPS_PER_EPOCH = 20
SMALLEST_BPTT = 16
SMALLEST_BATCH = 1


def steps_per_epoch(tokens: int, batch_size: int, bptt: int) -> int:
    """Truncated-BPTT windows in one pass over `tokens` tokens cut into `batch_size` streams."""
    columns = tokens // max(batch_size, 1)
    return max(0, -(-(columns - 1) // bptt))


def fitted_shape(tokens: int, batch_size: int, bptt: int, whole_lines: bool = False,
                 processes: int = 1) -> tuple[int, int]:
    """(batch_size, bptt), made smaller (window first, then streams) until an epoch has enough steps.

    `whole_lines`: a bidirectional model, whose step holds batch_size x bptt tokens of whole lines (the
    count of steps is about the same), shrinks the streams first: a short --bptt would cut its lines.
    `processes`: DistributedDataParallel processes, which share each batch: it stays a multiple of them."""
    smallest = max(SMALLEST_BATCH, processes)
    batch_size = max(smallest, batch_size // processes * processes)  # the default 16 is no multiple of 3
    while steps_per_epoch(tokens, batch_size, bptt) < MIN_STEPS_PER_EPOCH:
        streams_first = whole_lines and batch_size > smallest
        if bptt > SMALLEST_BPTT and not streams_first:
            bptt = max(SMALLEST_BPTT, bptt // 2)
        elif batch_size > smallest:
            batch_size = max(smallest, batch_size // 2 // processes * processes)
        else:
            break
    return batch_size, bptt
