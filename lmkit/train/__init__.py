"""Stage: training a recurrent model.

    config        TrainConfig: every knob of the loop, with its default and its check
    trainer       Trainer: truncated BPTT over a continuous token stream
    resume_state  what --resume needs, saved beside the model
    folder_lock   one writer per folder (flock on FOLDER/.lock): model directories, and report folders
    distributed   one process or DDP ranks
    stop_signals  SIGINT/SIGTERM/SIGHUP as a flag checked at a safe point
    cpu_memory    keep freed CPU memory for reuse (glibc)
"""
