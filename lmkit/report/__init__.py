"""Stage: reports comparing models on one test text.

    compare   score models on one text, compared only where the comparison is fair
    suite     the baseline suite (N-grams and recurrent models trained on one corpus)
    tables    the tables as strings; markdown and html render them; plots draws the PNGs
    tokens    a test passage coloured by each model's surprisal; tokens_plot draws it as tokens.png
    folder    which folders a report may be written into, one writer at a time
"""
