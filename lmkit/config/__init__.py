"""Stage 0, what every run is configured by: its knobs, their JSON form, its folders, the paths it is given and
its machine.

    settings   setting(): a config field carrying its default, help text and bounds; the checks every knob gets
    from_json  a settings dataclass read back from JSON (config.json, a trainer state), each field's type checked
    folders    where lmkit keeps its files ($LMKIT_CORPORA, $LMKIT_HOME, ./corpora and ./checkpoints)
    path_text  what the text of a path given to lmkit may hold, checked where it comes in
    machine    the precision a device computes in (bf16 only with bf16 units) and the CPU threads a process may use
"""
