"""Changed weights compared in numbers, streamed from real archives (no torch in pt2canon, no unpickling)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import pt2canon  # noqa: E402
from pt2canon.diff import tensors  # noqa: E402
from pt2canon.diff.tensors import Tolerance, compare_tensors  # noqa: E402


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(48, 32)
        self.out = nn.Linear(32, 4)

    def forward(self, x: Any) -> Any:
        return self.out(torch.relu(self.fc(x)))


def _save(module: Any, path: Path, *args: Any) -> Path:
    """Export and save; the same example input every time, so sample inputs do not differ."""
    torch.export.save(torch.export.export(module, args or (torch.ones(2, 48),)), path)
    return path


def _weight_records(r: Any) -> dict[str, Any]:
    return {c.details["fqn"]: c for c in r.changes if c.kind == "weight_changed"}


def _expected(a: Any, b: Any) -> dict[str, Any]:
    """The figures, computed with torch (float64) as ``torch.testing.assert_close`` reports them."""
    a, b = a.detach().double(), b.detach().double()
    diff = (b - a).abs()
    rel = diff / a.abs()
    flat, rflat = int(diff.argmax()), int(rel.nan_to_num(0.0).argmax())
    return {
        "differing": int((a != b).sum()),
        "max_abs_diff": float(diff.max()),
        "max_abs_at": [int(i) for i in torch.unravel_index(torch.tensor(flat), a.shape)],
        "max_rel_diff": float(rel.nan_to_num(0.0).max()),
        "max_rel_at": [int(i) for i in torch.unravel_index(torch.tensor(rflat), a.shape)],
    }


@pytest.fixture(scope="module")
def scaled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Any, Any]:
    folder = tmp_path_factory.mktemp("scaled")
    base = _Net()
    other = copy.deepcopy(base)
    with torch.no_grad():  # every element of fc.weight moves by a relative 2e-7 (about 2 float32 ulps)
        other.fc.weight.copy_((base.fc.weight.double() * (1 + 2e-7)).float())
    return _save(base, folder / "a.pt2"), _save(other, folder / "b.pt2"), base.fc.weight, other.fc.weight


def test_a_weight_scaled_by_2e_7_is_different_without_a_tolerance_with_the_figures_torch_computes(scaled: Any) -> None:
    a, b, wa, wb = scaled
    r = pt2canon.diff(a, b, level="full")
    assert not r.equal and list(_weight_records(r)) == ["fc.weight"]
    figures = _weight_records(r)["fc.weight"].details["numeric"]
    expected = _expected(wa, wb)
    assert figures["numel"] == 48 * 32 and figures["mismatched"] == figures["differing"] == expected["differing"]
    assert figures["max_abs_at"] == expected["max_abs_at"] and figures["max_rel_at"] == expected["max_rel_at"]
    assert figures["max_abs_diff"] == pytest.approx(expected["max_abs_diff"], rel=1e-6)
    assert figures["max_rel_diff"] == pytest.approx(expected["max_rel_diff"], rel=1e-3)  # float32 arithmetic
    assert 1e-7 < figures["max_rel_diff"] < 1e-6
    assert "within_tolerance" not in _weight_records(r)["fc.weight"].details  # no tolerance asked: it counts


def test_the_same_weight_is_equal_under_rtol_1e_5_as_assert_close_says(scaled: Any) -> None:
    a, b, wa, wb = scaled
    torch.testing.assert_close(wb, wa, rtol=1e-5, atol=0)  # the rule the diff follows
    r = pt2canon.diff(a, b, level="full", rtol=1e-5)
    assert r.equal and r.to_json()["counted"] == 0
    (c,) = _weight_records(r).values()
    assert c.details["within_tolerance"] is True and c.details["numeric"]["mismatched"] == 0
    assert r.render("text").splitlines()[-1] == "no changes at level full: 1 weight changed (not counted)"
    with pytest.raises(AssertionError):
        torch.testing.assert_close(wb, wa, rtol=1e-8, atol=0)
    tight = pt2canon.diff(a, b, level="full", rtol=1e-8)
    assert not tight.equal and _weight_records(tight)["fc.weight"].details["within_tolerance"] is False


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_weights_are_compared_in_numbers(tmp_path: Path, dtype: torch.dtype) -> None:
    base = _Net().to(dtype)
    other = copy.deepcopy(base)
    with torch.no_grad():
        other.out.weight[2, 5] += 0.25
        other.out.weight[1, 0] -= 1.0
    x = torch.randn(2, 48, dtype=dtype)
    r = pt2canon.diff(_save(base, tmp_path / "a.pt2", x), _save(other, tmp_path / "b.pt2", x), level="full")
    (c,) = _weight_records(r).values()
    figures, expected = c.details["numeric"], _expected(base.out.weight, other.out.weight)
    assert figures["differing"] == 2 and figures["max_abs_at"] == [1, 0] == expected["max_abs_at"]
    assert figures["max_abs_diff"] == pytest.approx(expected["max_abs_diff"])
    assert figures["max_rel_at"] == expected["max_rel_at"]
    assert "2 of 128 elements differ" in c.summary


class _Float8(nn.Module):
    def __init__(self, shift: float) -> None:
        super().__init__()
        self.register_buffer("scales", (torch.linspace(-4, 4, 16) + shift).to(torch.float8_e4m3fn))

    def forward(self, x: Any) -> Any:
        return x * self.scales.float()


def test_float8_buffers_are_compared_in_numbers(tmp_path: Path) -> None:
    x = torch.randn(16)
    a = _save(_Float8(0.0), tmp_path / "a.pt2", x)
    b = _save(_Float8(0.5), tmp_path / "b.pt2", x)
    (c,) = _weight_records(pt2canon.diff(a, b, level="full")).values()
    figures = c.details["numeric"]
    expected = _expected(_Float8(0.0).scales.float(), _Float8(0.5).scales.float())
    assert figures["differing"] == expected["differing"] > 0
    assert figures["max_abs_diff"] == pytest.approx(expected["max_abs_diff"])
    assert figures["max_abs_at"] == expected["max_abs_at"]


class _Transposed(nn.Module):
    def __init__(self, transposed: bool, bump: bool) -> None:
        super().__init__()
        torch.manual_seed(1)
        w = torch.randn(6, 5)
        if bump:
            w[4, 3] += 2.0
        self.w = nn.Parameter(w.t().contiguous().t() if transposed else w)

    def forward(self, x: Any) -> Any:
        return x @ self.w


def test_views_of_other_layouts_are_compared_by_logical_index(tmp_path: Path) -> None:
    x = torch.randn(3, 6)
    a = _save(_Transposed(False, False), tmp_path / "a.pt2", x)
    b = _save(_Transposed(True, True), tmp_path / "b.pt2", x)
    art_a, art_b = pt2canon.load(a), pt2canon.load(b)
    pa, pb = art_a.model.weights["w"], art_b.model.weights["w"]
    assert pa.tensor_meta["strides"] != pb.tensor_meta["strides"]  # row-major against column-major
    d = compare_tensors(art_a, pa, art_b, pb)
    assert d is not None and d.compared and d.differing == 1 and d.max_abs_at == [4, 3]
    assert d.max_abs_diff == pytest.approx(2.0)
    assert compare_tensors(art_a, pa, art_b, pb, tolerance=Tolerance(atol=2.5)).within_tolerance


def test_a_weight_of_another_shape_is_not_compared_in_numbers(tmp_path: Path) -> None:
    base = _Net()
    other = copy.deepcopy(base)
    other.out = nn.Linear(32, 5)
    r = pt2canon.diff(_save(base, tmp_path / "a.pt2"), _save(other, tmp_path / "b.pt2"), level="full")
    weights = _weight_records(r)
    assert "f32[4, 32]{requires_grad} -> f32[5, 32]{requires_grad}" in weights["out.weight"].summary
    assert "numeric" not in weights["out.weight"].details


class _Big(nn.Module):
    """One weight of about 10 MiB: several reads of the comparison, its buffers read into again."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.w = nn.Parameter(torch.randn(1531, 1733))  # 10.1 MiB, not a whole number of reads

    def forward(self, x: Any) -> Any:
        return x * self.w[0, 0]


def _deflated(src: Path, dst: Path) -> Path:
    """The same archive with every member deflated (read through the bounded decompressor, not readinto)."""
    import zipfile

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info))
    return dst


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Any, Any]:
    folder = tmp_path_factory.mktemp("big")
    base = _Big()
    other = copy.deepcopy(base)
    with torch.no_grad():  # changes in the first read, none in the middle reads, several in the last one
        flat = other.w.view(-1)
        flat[5] += 0.25
        flat[-7] -= 3.0
        flat[-1000:-900] *= 1.5
    return _save(base, folder / "a.pt2", torch.ones(2)), _save(other, folder / "b.pt2", torch.ones(2)), base.w, other.w


@pytest.mark.parametrize("form", ["stored", "deflated", "bytes"])
def test_a_weight_of_many_reads_gives_torch_s_figures_stored_deflated_or_in_memory(
    big: Any, tmp_path: Path, form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # stored: positional reads on the comparing threads (several tasks); deflated: read in order here;
    # bytes: positional reads of an in-memory archive (no file descriptor: seek and read under a lock).
    # A 1531 x 1733 weight is dense: streamed side by side, never read whole (MAX_SPAN bounds that).
    monkeypatch.setattr(tensors, "MAX_SPAN", 1 << 20)
    a, b, wa, wb = big
    if form == "deflated":
        a, b = _deflated(a, tmp_path / "a.pt2"), _deflated(b, tmp_path / "b.pt2")
    art_a, art_b = (pt2canon.load(p.read_bytes()) if form == "bytes" else pt2canon.load(p) for p in (a, b))
    d = compare_tensors(art_a, art_a.model.weights["w"], art_b, art_b.model.weights["w"])
    assert d is not None and d.compared and d.numel == wa.numel()
    expected = _expected(wa, wb)
    assert d.differing == d.mismatched == expected["differing"] == 102
    assert d.max_abs_at == expected["max_abs_at"] == [1530, 1726]  # flat[-7]: the largest, in the last read
    assert d.max_rel_at == expected["max_rel_at"]
    assert d.max_abs_diff == pytest.approx(expected["max_abs_diff"], rel=1e-6)
    assert d.max_rel_diff == pytest.approx(expected["max_rel_diff"], rel=1e-5)


def test_a_corrupt_byte_in_a_stored_weight_fails_the_crc_check_naming_the_member(big: Any, tmp_path: Path) -> None:
    import zipfile

    from pt2canon.errors import ArchiveError

    a, b, _, _ = big
    with zipfile.ZipFile(b) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith("weights/weight_0"))
    data = bytearray(b.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.file_size // 2] ^= 0x40  # an element in a middle read, where A and B are otherwise equal
    bad = tmp_path / "bad.pt2"
    bad.write_bytes(bytes(data))
    art_a, art_b = pt2canon.load(a), pt2canon.load(bad)
    with pytest.raises(ArchiveError, match="CRC-32") as exc:
        compare_tensors(art_a, art_a.model.weights["w"], art_b, art_b.model.weights["w"])
    assert exc.value.member == info.filename and str(bad) in str(exc.value)


@pytest.mark.parametrize("deflate", [False, True], ids=["stored", "deflated"])
def test_an_archive_cut_short_while_its_weight_is_compared_fails_naming_the_member(
    big: Any, tmp_path: Path, deflate: bool
) -> None:
    import shutil
    import zipfile

    from pt2canon.errors import ArchiveError

    a, b, _, _ = big
    cut = tmp_path / "cut.pt2"
    if deflate:
        a, cut = _deflated(a, tmp_path / "a.pt2"), _deflated(b, cut)
    else:
        shutil.copy(b, cut)
    art_a, art_b = pt2canon.load(a), pt2canon.load(cut)  # the directory is read; then the file shrinks
    with zipfile.ZipFile(cut) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith("weights/weight_0"))
    with open(cut, "r+b") as fh:
        fh.truncate(info.header_offset + info.compress_size // 2)
    with pytest.raises(ArchiveError) as exc:
        compare_tensors(art_a, art_a.model.weights["w"], art_b, art_b.model.weights["w"])
    assert exc.value.member == info.filename and str(cut) in str(exc.value)
