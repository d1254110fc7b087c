"""Stage: reports comparing models on one test text.

    compare   score models on one text, compared only where the comparison is fair
    suite     the baseline suite (N-grams and recurrent models trained on one corpus)
    tables    the tables as strings; markdown and html render them; plots draws the PNGs
"""
