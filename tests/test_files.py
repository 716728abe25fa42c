"""compiler.system.files: atomic writes (permissions, fsync, clean-up, error names) and
.npz reads that check sizes before loading."""
import errno
import io
import json
import os
import stat
import zipfile

import numpy as np
import pytest

import compiler.system.files as files
from compiler.system.files import atomic_output, check_output_path, read_npz, write_json


@pytest.fixture
def umask():
    """Set the process umask for one test and restore it afterwards."""
    previous = os.umask(0o022)
    try:
        yield os.umask
    finally:
        os.umask(previous)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def entries(folder):
    return sorted(os.listdir(folder))


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_outputs_honour_the_umask(umask, tmp_path, mask, expected):
    from lava_causal import tasks

    umask(mask)
    with atomic_output(tmp_path / "a.bin") as handle:
        handle.write(b"x")
    write_json(tmp_path / "b.json", {"a": np.arange(3)})
    tasks.discrimination(0, n=12, m=12).save(tmp_path / "p.npz")
    for name in ("a.bin", "b.json", "p.npz"):
        assert mode(tmp_path / name) == expected, name
    assert json.loads((tmp_path / "b.json").read_text()) == {"a": [0, 1, 2]}


def test_nir_export_honours_the_umask_and_leaves_no_temporary_folder(umask, tmp_path):
    from compiler.deploy.nir_export import to_nir
    from lava_causal import build_network, tasks

    umask(0o022)
    out = tmp_path / "net.nir"
    to_nir(build_network(tasks.discrimination(0, n=12, m=12)), out)
    assert entries(tmp_path) == ["net.nir"] and mode(out) == 0o644


def test_failed_nir_export_leaves_nothing(monkeypatch, tmp_path):
    import nir

    from compiler.deploy.nir_export import to_nir
    from lava_causal import build_network, tasks

    def broken(filename, graph, **kwargs):
        with open(filename, "wb") as handle:
            handle.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(nir, "write", broken)
    with pytest.raises(OSError) as info:
        to_nir(build_network(tasks.discrimination(0, n=12, m=12)), tmp_path / "net.nir")
    assert info.value.filename == str(tmp_path / "net.nir")
    assert entries(tmp_path) == []


def test_replacing_a_file_keeps_its_permissions(umask, tmp_path):
    umask(0o022)
    path = tmp_path / "kept.txt"
    path.write_text("old")
    os.chmod(path, 0o640)
    with atomic_output(path, "w") as handle:
        handle.write("new")
    assert path.read_text() == "new" and mode(path) == 0o640


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_failure_removes_the_temporary_file_and_keeps_the_old_one(tmp_path, exc):
    path = tmp_path / "out.npz"
    path.write_bytes(b"old")
    with pytest.raises(type(exc)):
        with atomic_output(path) as handle:
            handle.write(b"half")
            raise exc
    assert entries(tmp_path) == ["out.npz"] and path.read_bytes() == b"old"


def test_a_write_error_names_the_output_not_the_temporary_file(monkeypatch, tmp_path):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    path = tmp_path / "out.json"
    with pytest.raises(OSError) as info:
        write_json(path, {"a": 1})
    assert info.value.filename == str(path) and info.value.errno == errno.ENOSPC
    assert ".tmp-" not in str(info.value)
    assert entries(tmp_path) == []


def test_a_rename_error_names_the_output(monkeypatch, tmp_path):
    def refuse(src, dst):
        raise PermissionError(errno.EACCES, "Permission denied", src, None, dst)

    monkeypatch.setattr(os, "replace", refuse)
    path = tmp_path / "out.bin"
    with pytest.raises(PermissionError) as info:
        with atomic_output(path) as handle:
            handle.write(b"x")
    assert info.value.filename == str(path)
    assert entries(tmp_path) == []


def test_the_file_is_fsynced_before_the_rename_and_the_folder_after(monkeypatch, tmp_path):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        calls.append(("fsync", stat.S_ISDIR(os.fstat(fd).st_mode)))
        real_fsync(fd)

    def replace(src, dst):
        calls.append(("replace", os.path.basename(src).startswith(".tmp-")))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    with atomic_output(tmp_path / "f.bin") as handle:
        handle.write(b"data")
    assert calls == [("fsync", False), ("replace", True), ("fsync", True)]
    assert (tmp_path / "f.bin").read_bytes() == b"data"


def test_the_temporary_file_is_hidden_beside_the_target(tmp_path):
    with atomic_output(tmp_path / "x.npz") as handle:
        (name,) = entries(tmp_path)
        assert name.startswith(".tmp-") and name.endswith(".npz")
        handle.write(b"1")
    assert entries(tmp_path) == ["x.npz"]


def test_a_folder_is_not_an_output_file(tmp_path):
    with pytest.raises(IsADirectoryError) as info:
        with atomic_output(tmp_path) as handle:
            handle.write(b"x")
    assert info.value.filename == str(tmp_path)


def test_check_output_path(tmp_path):
    src = tmp_path / "in.npz"
    src.write_bytes(b"x")
    assert check_output_path(tmp_path / "new" / "deeper" / "out.npz") == str(tmp_path / "new/deeper/out.npz")
    with pytest.raises(ValueError, match="overwrite the input"):
        check_output_path(src, [src])
    with pytest.raises(ValueError, match="overwrite the input"):
        check_output_path(str(tmp_path / "." / "in.npz"), [str(src)])
    with pytest.raises(IsADirectoryError):
        check_output_path(tmp_path)
    with pytest.raises(NotADirectoryError):
        check_output_path(src / "out.npz")


def test_check_output_path_refuses_a_folder_it_cannot_write(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "access", lambda path, how: False)  # as a non-root user in a 0500 folder
    with pytest.raises(PermissionError) as info:
        check_output_path(tmp_path / "out.npz")
    assert info.value.filename == str(tmp_path / "out.npz")


# --------------------------------------------------------------------- reading
def test_read_npz_reads_only_the_requested_members(tmp_path, monkeypatch):
    path = tmp_path / "a.npz"
    np.savez(path, a=np.arange(3), b=np.ones(2), c=np.zeros(4))
    opened = []
    real_read = np.lib.format.read_array
    monkeypatch.setattr(np.lib.format, "read_array",
                        lambda fp, **kw: opened.append(fp.name) or real_read(fp, **kw))
    out = read_npz(path, "test", keys=["a"], optional=["c", "missing"])
    assert sorted(out) == ["a", "c"] and opened == ["a.npy", "c.npy"]
    assert sorted(read_npz(path, "test")) == ["a", "b", "c"]  # the old call reads all
    with pytest.raises(ValueError, match=r"lacks array\(s\) \['zz'\]"):
        read_npz(path, "test", keys=["a", "zz"])


def test_read_npz_refuses_object_arrays_and_names_the_file(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError, match="obj.npz.*objects"):
        read_npz(path, "test")


@pytest.mark.parametrize("data", [b"not a zip", b"\x93NUMPY\x01\x00"])
def test_read_npz_refuses_files_that_are_not_npz(tmp_path, data):
    path = tmp_path / "junk.npz"
    path.write_bytes(data)
    with pytest.raises(ValueError, match="junk.npz.*corrupt"):
        read_npz(path, "test")


def test_read_npz_refuses_a_plain_npy(tmp_path):
    path = tmp_path / "plain.npz"
    with open(path, "wb") as handle:
        np.save(handle, np.arange(3))
    with pytest.raises(ValueError, match="plain.npz.*corrupt"):
        read_npz(path, "test")


def test_read_npz_refuses_a_member_shorter_than_its_header(tmp_path):
    path = tmp_path / "short.npz"
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (100,)})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.npy", header.getvalue() + b"\0" * 16)
    with pytest.raises(ValueError, match="short.npz.*corrupt"):
        read_npz(path, "test", limit=None)


def test_memory_limit_reads_the_environment(monkeypatch):
    monkeypatch.setenv(files.MEMORY_LIMIT_ENV, "1.5G")
    assert files.memory_limit() == int(1.5 * 2**30)
    monkeypatch.setenv(files.MEMORY_LIMIT_ENV, "none")
    assert files.memory_limit() is None
    monkeypatch.setenv(files.MEMORY_LIMIT_ENV, "lots")
    with pytest.raises(ValueError, match=files.MEMORY_LIMIT_ENV):
        files.memory_limit()
    monkeypatch.delenv(files.MEMORY_LIMIT_ENV)
    available = files.available_memory()
    assert available is None or available > 0


def test_format_and_parse_bytes():
    assert files.format_bytes(8 * 10**9) == "7.45 GiB"
    assert files.format_bytes(512) == "512 B"
    assert files.parse_bytes("512MiB") == 512 * 2**20
    assert files.parse_bytes("1e9") == 10**9
