"""``python -m cnnviz data ...``: status, import, download (loopback), remove, errors."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from cnnviz import cli, terminal
from cnnviz.data import datasets, stored
from tests.support.archives import class_folders, make_zip, tiny_archive_bytes, write_tiny_dir
from tests.support.disks import refuse_mkdir_under
from tests.support.http import Route, loopback_server, refused_url, md5


def test_status_lists_every_dataset(capsys, cnnviz_home):
    assert cli.main(["data", "status"]) == 0
    out = capsys.readouterr().out
    assert f"datasets in {cnnviz_home / 'data'}" in out
    assert "digits           present" in out and "cifar10          missing" in out
    assert "python -m cnnviz data import cifar10 PATH" in out


def test_import_archive_and_directory(capsys, tmp_path):
    archive = tmp_path / "cifar-10-binary.tar.gz"
    archive.write_bytes(tiny_archive_bytes())
    assert cli.main(["data", "import", "cifar10", str(archive)]) == 0
    assert "Installed CIFAR-10 binary version" in capsys.readouterr().out
    assert cli.main(["data", "import", "cifar10", str(write_tiny_dir(tmp_path / "d"))]) == 0
    assert datasets.load("cifar10").x_train.shape == (100, 32, 32, 3)
    assert cli.main(["data", "status"]) == 0
    assert "cifar10          present" in capsys.readouterr().out


def test_import_of_something_else_is_one_line_exit_2(capsys, tmp_path):
    junk = tmp_path / "junk"
    junk.write_bytes(b"nope")
    assert cli.main(["data", "import", "cifar10", str(junk)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "is not a readable .tar.gz archive" in err and err.count("\n") == 1


def test_download_from_mirror_prints_progress(capsys):
    with loopback_server() as state:
        body = tiny_archive_bytes()
        state.routes["/c.tar.gz"] = Route(body)
        code = cli.main(["data", "download", "cifar10", "--url", state.url("/c.tar.gz"),
                         "--size", str(len(body)), "--md5", md5(body)])
        out = capsys.readouterr()
        assert code == 0, out.err
        assert "100%" in out.err and "Installed CIFAR-10" in out.out


def test_download_progress_counts_megabytes_as_the_pages_do(capsys):
    """MB are 10⁶ bytes, as the Datasets page and the app's download bar count them ("the 170 MB archive"):
    the whole CIFAR-10 archive reads 170.1 MB, not 162.2 (its size in MiB)."""
    from cnnviz.data import cifar10

    report = terminal.download_printer()
    report(cifar10.OFFICIAL_SIZE, cifar10.OFFICIAL_SIZE)
    report(3 * 10**6, None)
    lines = capsys.readouterr().err.replace("\r", "\n").split()
    assert " ".join(lines) == "100% 170.1 MB 3.0 MB"


def test_download_offline_and_checksum_errors(capsys):
    assert cli.main(["data", "download", "cifar10", "--url", refused_url("/cifar-10-binary.tar.gz")]) == 2
    assert "looks offline" in capsys.readouterr().err
    with loopback_server() as state:
        body = tiny_archive_bytes()
        state.routes["/c.tar.gz"] = Route(body)
        assert cli.main(["data", "download", "cifar10", "--url", state.url("/c.tar.gz"),
                         "--size", str(len(body))]) == 2
        assert "Checksum mismatch" in capsys.readouterr().err
        assert cli.main(["data", "download", "cifar10", "--url", state.url("/c.tar.gz"), "--no-verify"]) == 0
    assert stored.is_present("cifar10")


@pytest.mark.parametrize("command", [["data", "download", "cifar10", "--no-verify"], ["download", "vgg16-notop"]])
def test_download_into_a_read_only_home_is_one_line(capsys, cnnviz_home, monkeypatch, keras_home, command):
    refuse_mkdir_under(monkeypatch, cnnviz_home)
    with loopback_server() as state:
        state.routes["/f"] = Route(tiny_archive_bytes())
        assert cli.main([*command, "--url", state.url("/f")]) == 2
    err = capsys.readouterr().err
    assert f"the disk is read-only (CNNVIZ_HOME={cnnviz_home})" in err and "Traceback" not in err, err


def test_download_options_only_for_cifar(capsys):
    assert cli.main(["data", "download", "mnist", "--url", "http://x"]) == 2
    assert "apply to cifar10 only, not mnist" in capsys.readouterr().err


def test_import_folder_zip_and_remove(capsys, tmp_path):
    path = tmp_path / "pets.zip"
    members = class_folders(per_class=10)
    members["cats/readme.txt"] = b"x"
    path.write_bytes(make_zip(members))
    assert cli.main(["data", "import", "folder", str(path)]) == 2
    assert "needs --name NAME" in capsys.readouterr().err
    assert cli.main(["data", "import", "folder", str(path), "--name", "pets", "--image-size", "16", "--grey"]) == 0
    out = capsys.readouterr().out
    assert "Made folder:pets: 16 training and 4 test images (cats: 10, dogs: 10)." in out
    assert "cats/readme.txt: not an image file name" in out
    assert datasets.load("folder:pets").input_shape == (16, 16, 1)
    assert cli.main(["data", "remove", "folder:pets"]) == 0
    assert capsys.readouterr().out.strip() == "removed folder:pets"
    assert not stored.is_present("folder:pets")


def test_import_folder_zip_says_what_the_page_says_and_prints_names_as_received(capsys, tmp_path):
    """A student's zip imported by the teacher: folders that look alike are warned of (as on the page), and a
    member's name can neither drive the terminal (escape sequences) nor print a line of its own."""
    members = class_folders(per_class=10, classes=("cats", "Cats"))
    members["dogs/\x1b]0;owned\x07\x1b[2J.txt"] = b"x"
    members["dogs/x\nMade folder:fake: 999 training.txt"] = b"x"
    path = tmp_path / "pets.zip"
    path.write_bytes(make_zip(members))
    assert cli.main(["data", "import", "folder", str(path), "--name", "pets", "--image-size", "16"]) == 0
    out = capsys.readouterr().out
    assert "Warning: The class folders `Cats`, `cats` look alike" in out
    assert "\x1b" not in out and "\x07" not in out
    assert "  dogs/\\x1b]0;owned\\x07\\x1b[2J.txt: not an image file name" in out
    assert "  dogs/x\\nMade folder:fake: 999 training.txt: not an image file name" in out
    assert [line for line in out.splitlines() if line.startswith("Made")] == [
        "Made folder:pets: 16 training and 4 test images (Cats: 10, cats: 10)."]


def test_unknown_dataset_choice_is_argparse_error():
    with pytest.raises(SystemExit) as err:
        cli.main(["data", "download", "imagenet"])
    assert err.value.code == 2


def test_imports_print_progress_as_the_datasets_page_shows_it(capsys, tmp_path):
    """Reading a 170 MB archive or decoding a zip of thousands of images takes a while: the Datasets page shows a
    progress bar for both, the command line printed nothing until the end."""
    archive = tmp_path / "cifar-10-binary.tar.gz"
    archive.write_bytes(tiny_archive_bytes())
    assert cli.main(["data", "import", "cifar10", str(archive)]) == 0
    out = capsys.readouterr()
    assert "Installed CIFAR-10" in out.out and "100%" in out.err, out.err
    path = tmp_path / "pets.zip"
    path.write_bytes(make_zip(class_folders(per_class=10)))
    assert cli.main(["data", "import", "folder", str(path), "--name", "pets", "--image-size", "16"]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("Made folder:pets") and "100%" in out.err and "20 of 20 files" in out.err, out.err


@pytest.mark.parametrize("option, value, said", [("--size", "0", "got 0"), ("--md5", "", "got ''")])
def test_download_says_what_is_wrong_with_a_size_of_0_or_an_empty_md5(capsys, option, value, said):
    """Both were taken for 'not given' and replaced by the official size and MD5 without a word: the mirror's
    file then failed a check the teacher had not asked for."""
    with loopback_server() as state:
        body = tiny_archive_bytes()
        state.routes["/c.tar.gz"] = Route(body)
        assert cli.main(["data", "download", "cifar10", "--url", state.url("/c.tar.gz"), option, value]) == 2
        assert state.hits == []  # refused before any download
    err = capsys.readouterr().err
    assert err.startswith("error: ") and said in err and err.count("\n") == 1, err


@pytest.mark.parametrize("extra", [["--name", "mine"], ["--grey"], ["--image-size", "32"], ["--overwrite"]])
def test_import_cifar10_refuses_the_folder_options(capsys, tmp_path, extra):
    """They were ignored without a word: `--name mine --grey` replaced CIFAR-10 itself, in colour (as `data download
    mnist --url` is refused: those options apply to cifar10 only)."""
    archive = tmp_path / "cifar-10-binary.tar.gz"
    archive.write_bytes(tiny_archive_bytes())
    assert cli.main(["data", "import", "cifar10", str(archive), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and extra[0] in err and "folder only" in err and err.count("\n") == 1, err
    assert not stored.is_present("cifar10")


@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS])
def test_remove_from_a_home_that_refuses_is_one_line(capsys, cnnviz_home, monkeypatch, tmp_path, code):
    """The command line run by a user who may not write the server's CNNVIZ_HOME (or a read-only disk): the
    import's and the download's refusals are one line, the removal's was a PermissionError traceback."""
    datasets.import_folder_zip(make_zip(class_folders(per_class=10)), name="pets", image_size=16)
    real_unlink = Path.unlink

    def refused(self, *args, **kwargs):
        if str(self).startswith(str(cnnviz_home)):
            raise OSError(code, os.strerror(code), str(self))
        return real_unlink(self, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", refused)
    assert cli.main(["data", "remove", "folder:pets"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Could not remove the dataset") and f"(CNNVIZ_HOME={cnnviz_home})" in err, err
    assert stored.is_present("folder:pets")


def test_progress_in_a_log_has_a_line_each_time_another_5_percent_is_passed(capsys):
    """Not a terminal: updates that jump past the multiples of 5 (the six members of the CIFAR-10 archive, read one
    by one by `data import`) printed only 0 % and 100 %."""
    report = terminal.download_printer()
    for done in (0, 29, 58, 87, 116, 145, 173):
        report(done * 10**6, 173 * 10**6)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split()[0] for line in lines] == ["0%", "16%", "33%", "50%", "67%", "83%", "100%"], lines
