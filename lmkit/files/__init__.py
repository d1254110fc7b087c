"""Files as lmkit meets them, below every stage: input read only from regular files (reading), its bytes told as
text (text_bytes, line_ends), output written whole or not at all (writing, json_text), and the names and markers
by which lmkit proves what it made, so that it cleans up and replaces only that (temporary_names,
folder_markers), one process at a time where it must (waiting_lock).
"""
