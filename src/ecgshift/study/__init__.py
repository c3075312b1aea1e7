"""The modality-mix study: a grid of training mixes × seeds (``sweep``), each run evaluated on every
modality's test split (``evaluation``), and the self-contained HTML report of the findings (``report``)."""
