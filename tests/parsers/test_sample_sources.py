"""Every sample records where it came from; constructed samples say so."""

from pathlib import Path

import pytest

from fleet.parsers import PARSERS

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
# Probe samples live in one folder per section (plus whole outputs in probe/); other folders
# of tests/samples belong to other parts of the product.
FOLDERS = [SAMPLES / name for name in [*sorted(PARSERS), "probe"] if (SAMPLES / name).is_dir()]
SAMPLE_FILES = sorted(path for folder in FOLDERS for path in folder.glob("*.txt"))


def test_it_has_samples_for_the_sections_with_real_variants():
    with_samples = {folder.name for folder in FOLDERS}
    for section in ("os-release", "kernels-dpkg", "kernels-rpm", "livepatch-canonical", "kpatch",
                    "ksplice", "needrestart", "needs-restarting", "unit-files", "units", "failed-units",
                    "socket-units", "timer-units", "fstab", "mounts", "sysctl-persisted", "probe"):  # fmt: skip
        assert section in with_samples, section
    assert len(SAMPLE_FILES) >= 80


@pytest.mark.parametrize("sample", SAMPLE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_it_records_the_source_of_each_sample(sample):
    source = sample.with_suffix(".source")
    assert source.exists(), f"{sample} has no .source file"
    text = source.read_text().strip()
    assert text
    # A URL, a repository path, or an honest label: captured on a real host, or constructed.
    assert any(word in text for word in ("constructed", "captured", "/", "GitHub")), text
