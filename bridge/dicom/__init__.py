"""The DICOM store: a protocol (`protocol.DicomStore`) and its standalone implementation, a
folder of DICOM files indexed in SQLite (`sqlite_store.SqliteStore`), with folder import on
every core (`importer`), header indexing (`header`), QIDO matching (`matching`) and pixel
access (`pixels`). Knows nothing of HTTP; the DICOMweb adapter is `adapters.http.dicomweb`.
"""

from __future__ import annotations

from pathlib import Path


def store_path(data_dir: Path | str) -> Path:
    """Where the bridge keeps its DICOM store inside its data folder."""
    return Path(data_dir) / "dicom"


__all__ = ["store_path"]
