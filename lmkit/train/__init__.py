"""Stage: training a recurrent model.

    config        TrainConfig: every knob of the loop, with its default and its check
    presets       named bundles of settings (`--preset awd`), the one table of them
    trainer       Trainer: truncated BPTT over a continuous token stream
    hidden_state  the state carried from window to window: detached at the edge, zeroed at a row's line start
    line_batches  what a cloze (bidirectional) model trains on instead: whole lines, batched
    small_data    a batch and window that fit the training text
    window_lengths  variable-length BPTT windows (AWD-LSTM)
    optimizers    the optimizer, built in one place; schedule: learning rates that know the run's budget
    penalties     activation and temporal activation regularisation (AR/TAR); averaging: NT-ASGD's mean weights
    rare_tokens   teaching the model how often it will meet a token it has never seen
    progress      the run's position, which --resume restores
    resume_state  what --resume needs, saved beside the model; state_check: trainer_state.pt checked as it loads
    folder_lock   one writer per folder (flock on FOLDER/.lock): model directories, and report folders
    distributed   one process or DDP ranks
    cpu_memory    keep freed CPU memory for reuse (glibc)
"""
