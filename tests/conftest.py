"""Shared fixtures: where the shared real data lives, and a private cache for every test session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterator

import pytest

SHARED_DATA = Path(os.environ.get("ECGSHIFT_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``$ECGSHIFT_SHARED_DATA``, else ``../shared/data``; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """One torch thread for the whole session: small batches on a 2-core machine run faster so,
    and a busy neighbour process cannot make them crawl."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``$ECGSHIFT_CACHE`` → a temporary folder, so no test writes to ``~/.cache`` (subprocesses inherit it)."""
    cache = tmp_path_factory.mktemp("ecgshift-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ECGSHIFT_CACHE", str(cache))
        yield cache


#: Six real records for a small Folder dataset: (file under the shared data, modality, label from the
#: dataset's own label file: CinC 2017 REFERENCE-v3.csv, PTB-XL scp_codes).
FOLDER_RECORDS = (
    ("tecg/cinc2017/A00001.hea", "tecg", "SR"),
    ("tecg/cinc2017/A00004.hea", "tecg", "AF"),
    ("tecg/cinc2017/A00008.hea", "tecg", "other"),
    ("formats/ptbxl/records100/00001_lr.hea", "recg", "SR"),  # format 16: any byte may change and it still reads
    ("recg/ptbxl/records100/00000/00017_lr.hea", "recg", "AF"),
    ("recg/ptbxl/records100/00000/00002_lr.hea", "recg", "other"),
)


def _copy_record(src_hea: Path, dst_dir: Path) -> Path:
    """Copy a WFDB record (its header and every file named ``<record>.*`` / ``<record>_*``); return the new header."""
    dst_dir.mkdir(parents=True, exist_ok=True)
    for f in src_hea.parent.glob(f"{src_hea.stem}*"):
        if f.stem == src_hea.stem or f.stem.startswith(f"{src_hea.stem}_"):
            shutil.copyfile(f, dst_dir / f.name)
    return dst_dir / src_hea.name


@pytest.fixture(scope="session")
def copy_record():
    """``copy_record(src_hea, dst_dir) -> new header``: a broken copy of a real record starts from this."""
    return _copy_record


@pytest.fixture
def real_folder(shared_data: Path, tmp_path: Path) -> Path:
    """A Folder dataset in ``tmp_path/folder``: the records of :data:`FOLDER_RECORDS` and their manifest.csv."""
    root = tmp_path / "folder"
    rows = ["path,modality,label,patient_id"]
    for source, modality, label in FOLDER_RECORDS:
        hea = _copy_record(shared_data / source, root / modality)
        rows.append(f"{modality}/{hea.name},{modality},{label},")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root
