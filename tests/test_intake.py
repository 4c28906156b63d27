"""Intake: every way a tool's input becomes Media, and every way it is refused, on real files and media."""

from __future__ import annotations

import base64
import io
import os
import shutil
import struct
import tempfile
import zlib
from pathlib import Path

import pytest
from media_support import mp4_with_text, pdf_with_text, png_that_does_not_inflate, wav_tone
from PIL import Image
from sensorium.tools import capture as cap
from sensorium.tools.config import IntakeSettings
from sensorium.tools.errors import (
    Forbidden,
    InvalidInput,
    LimitExceeded,
    NotFound,
    UnsupportedMedia,
)
from sensorium.tools.intake import (
    check_limits,
    media_from_base64,
    media_from_capture,
    media_from_path,
    require_modality,
    resolve_allowed,
)
from sensorium.tools.media import Media, Modality


def png_bytes(size: tuple[int, int] = (32, 24), colour: tuple[int, int, int] = (200, 20, 20)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height but carries one tiny IDAT: a decompression-bomb probe."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "allowed"
    r.mkdir()
    return r


@pytest.fixture
def settings(root: Path) -> IntakeSettings:
    return IntakeSettings(allowed_roots=[root])


# -- paths ----------------------------------------------------------------------------------


def test_file_inside_root_becomes_media_with_sniffed_mime(root: Path, settings: IntakeSettings) -> None:
    f = root / "picture.txt"  # the extension lies: the bytes are PNG
    f.write_bytes(png_bytes())
    media = media_from_path(str(f), settings)
    assert media.mime_type == "image/png" and media.modality is Modality.IMAGE
    assert media.source == {"kind": "file", "path": str(f.resolve()), "name": "picture.txt", "bytes": f.stat().st_size}


def test_png_named_wav_is_an_image_and_wav_named_png_is_audio(root: Path, settings: IntakeSettings) -> None:
    (root / "a.wav").write_bytes(png_bytes())
    (root / "b.png").write_bytes(wav_tone(seconds=0.2))
    assert media_from_path(str(root / "a.wav"), settings).mime_type == "image/png"
    assert media_from_path(str(root / "b.png"), settings).mime_type == "audio/wav"


def test_symlink_inside_root_pointing_outside_is_forbidden(tmp_path: Path, root: Path, settings: IntakeSettings) -> None:
    secret = tmp_path / "outside" / "secret.png"
    secret.parent.mkdir()
    secret.write_bytes(png_bytes())
    link = root / "innocent.png"
    link.symlink_to(secret)
    with pytest.raises(Forbidden) as e:
        media_from_path(str(link), settings)
    msg = str(e.value)
    assert "outside the allowed folders" in msg and str(secret) not in msg and "resolves to" not in msg
    assert "SENSORIUM_INTAKE__ALLOWED_ROOTS" in msg


def test_dotdot_escape_is_forbidden(tmp_path: Path, root: Path, settings: IntakeSettings) -> None:
    (tmp_path / "x.png").write_bytes(png_bytes())
    with pytest.raises(Forbidden):
        media_from_path(str(root / ".." / "x.png"), settings)


def test_symlink_within_root_is_followed(root: Path, settings: IntakeSettings) -> None:
    (root / "sub").mkdir()
    target = root / "sub" / "real.png"
    target.write_bytes(png_bytes())
    (root / "alias.png").symlink_to(target)
    assert media_from_path(str(root / "alias.png"), settings).source["path"] == str(target)


def test_root_that_is_itself_a_symlink_still_admits_its_files(tmp_path: Path, root: Path) -> None:
    link_root = tmp_path / "linkroot"
    link_root.symlink_to(root)
    (root / "a.png").write_bytes(png_bytes())
    media = media_from_path(str(link_root / "a.png"), IntakeSettings(allowed_roots=[link_root]))
    assert media.mime_type == "image/png"


def test_outside_every_root_is_forbidden_even_when_missing(tmp_path: Path, settings: IntakeSettings) -> None:
    with pytest.raises(Forbidden):
        media_from_path(str(tmp_path / "nope.png"), settings)


def test_missing_file_is_not_found(root: Path, settings: IntakeSettings) -> None:
    with pytest.raises(NotFound, match="no such file: .*missing.png"):
        media_from_path(str(root / "missing.png"), settings)


def test_broken_symlink_is_not_found(root: Path, settings: IntakeSettings) -> None:
    (root / "dangling.png").symlink_to(root / "gone.png")
    with pytest.raises(NotFound):
        media_from_path(str(root / "dangling.png"), settings)


def test_directory_is_invalid_input(root: Path, settings: IntakeSettings) -> None:
    (root / "folder").mkdir()
    with pytest.raises(InvalidInput, match="is a directory: pass the path of one file"):
        media_from_path(str(root / "folder"), settings)


def test_fifo_is_refused_without_blocking(root: Path, settings: IntakeSettings) -> None:
    fifo = root / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(InvalidInput, match="not a regular file"):
        media_from_path(str(fifo), settings)


def _intake_error_as(uid: int, path: Path, settings: IntakeSettings) -> str:
    """media_from_path run by another user, in a forked child (modules already imported), as 'Kind: message'."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: drop root, try, report, exit without running pytest's cleanup
        os.close(r)
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            media_from_path(str(path), settings)
            out = "no error"
        except Exception as exc:  # reported to the parent, which asserts on it
            out = f"{type(exc).__name__}: {exc}"
        os.write(w, out.encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as pipe:
        out = pipe.read().decode()
    os.waitpid(pid, 0)
    return out


def test_unreadable_file_is_forbidden() -> None:
    """A file the server's user may not read. As root (CI), the check runs as 'nobody' in a forked child."""
    folder = Path(tempfile.mkdtemp(prefix="sensorium-unreadable-"))
    folder.chmod(0o755)
    f = folder / "locked.png"
    f.write_bytes(png_bytes())
    f.chmod(0)
    settings = IntakeSettings(allowed_roots=[folder])
    try:
        if os.geteuid() == 0:
            out = _intake_error_as(65534, f, settings)
        else:
            try:
                media_from_path(str(f), settings)
                out = "no error"
            except Exception as exc:
                out = f"{type(exc).__name__}: {exc}"
        assert out.startswith("Forbidden: ") and "permission denied" in out, out
    finally:
        f.chmod(0o600)
        shutil.rmtree(folder)


def test_relative_and_empty_paths_are_invalid(settings: IntakeSettings) -> None:
    with pytest.raises(InvalidInput, match="relative"):
        media_from_path("some/file.png", settings)
    with pytest.raises(InvalidInput, match="empty"):
        media_from_path("  ", settings)


def test_symlink_loop_is_invalid_input(root: Path, settings: IntakeSettings) -> None:
    (root / "a").symlink_to(root / "b")
    (root / "b").symlink_to(root / "a")
    # 3.11/3.12 resolve() raises on the loop; 3.13+ leaves it for stat() (ELOOP): InvalidInput either way
    with pytest.raises(InvalidInput, match="(?i)symlink loop|symbolic links"):
        media_from_path(str(root / "a"), settings)


def test_too_large_file_names_size_and_limit(root: Path) -> None:
    f = root / "big.png"
    f.write_bytes(png_bytes() + b"\x00" * 5000)
    with pytest.raises(LimitExceeded) as e:
        media_from_path(str(f), IntakeSettings(allowed_roots=[root], max_file_bytes=2000))
    msg = str(e.value)
    assert f"is {f.stat().st_size / 1000:.1f} KB, the limit is 2.0 KB" in msg and "smaller file" in msg


def test_file_that_is_not_media_is_unsupported(root: Path, settings: IntakeSettings) -> None:
    f = root / "notes.png"
    f.write_text("just some text, not a picture")
    with pytest.raises(UnsupportedMedia, match="not a recognised media format"):
        media_from_path(str(f), settings)
    (root / "empty.png").write_bytes(b"")
    with pytest.raises(UnsupportedMedia, match="empty"):
        media_from_path(str(root / "empty.png"), settings)


def test_resolve_allowed_accepts_the_root_itself(root: Path, settings: IntakeSettings) -> None:
    assert resolve_allowed(str(root), settings) == root.resolve()


# -- base64 ---------------------------------------------------------------------------------


def test_plain_base64_becomes_media(settings: IntakeSettings) -> None:
    data = png_bytes()
    media = media_from_base64(base64.b64encode(data).decode(), settings)
    assert media.data == data and media.mime_type == "image/png"
    assert media.source == {"kind": "base64", "bytes": len(data)}


def test_base64_with_newlines_urlsafe_and_no_padding(settings: IntakeSettings) -> None:
    data = wav_tone(seconds=0.1)
    text = base64.b64encode(data).decode()
    wrapped = "\n".join(text[i : i + 76] for i in range(0, len(text), 76))
    assert media_from_base64(wrapped, settings).data == data
    unpadded = base64.urlsafe_b64encode(data).decode().rstrip("=")
    assert media_from_base64(unpadded, settings).data == data


def test_data_url_mime_is_sniffed_not_trusted(settings: IntakeSettings) -> None:
    data = png_bytes()
    url = "data:audio/wav;base64," + base64.b64encode(data).decode()
    media = media_from_base64(url, settings)
    assert media.mime_type == "image/png"
    assert media.source == {"kind": "data_url", "declared_mime": "audio/wav", "bytes": len(data)}


def test_data_url_without_base64_is_invalid(settings: IntakeSettings) -> None:
    with pytest.raises(InvalidInput, match="not base64-encoded"):
        media_from_base64("data:image/png,%89PNG", settings)
    with pytest.raises(InvalidInput, match="malformed data: URL"):
        media_from_base64("data:image/png;base64", settings)


def test_bad_base64_is_invalid_input(settings: IntakeSettings) -> None:
    with pytest.raises(InvalidInput, match=r"not valid base64 \(unexpected character '\*'\)"):
        media_from_base64("iVBORw0KGgo***", settings)
    with pytest.raises(InvalidInput, match="not valid base64"):
        media_from_base64("abcde", settings)  # a length no base64 can have
    with pytest.raises(InvalidInput, match="empty"):
        media_from_base64("   ", settings)


def test_base64_that_is_not_media_is_unsupported(settings: IntakeSettings) -> None:
    with pytest.raises(UnsupportedMedia) as e:
        media_from_base64(base64.b64encode(b"hello, this is plain text").decode(), settings)
    assert "decodes to 25 bytes but" in str(e.value)
    assert not isinstance(e.value, LimitExceeded)


def test_base64_over_the_size_limit_is_refused_before_decoding(settings: IntakeSettings) -> None:
    small = IntakeSettings(allowed_roots=settings.allowed_roots, max_file_bytes=1000)
    with pytest.raises(LimitExceeded, match=r"decodes to about 3.0 KB, the limit is 1.0 KB"):
        media_from_base64("A" * 4000, small)


# -- captures -------------------------------------------------------------------------------


def test_media_from_capture_and_missing_capture() -> None:
    store = cap.CaptureStore(4)
    c = cap.from_image(Image.new("RGB", (400, 200), (9, 9, 9)), left=10, top=20, monitor=1)
    store.put(c)
    media = media_from_capture(c.id, store)
    assert media.data == c.data and media.mime_type == "image/jpeg" and media.modality is Modality.IMAGE
    assert media.source["kind"] == "capture" and media.source["capture_id"] == c.id
    assert (media.source["left"], media.source["top"], media.source["scale"]) == (10, 20, 1.0)
    with pytest.raises(NotFound, match="capture_screen again"):
        media_from_capture("cap_000000", store)


# -- limits ---------------------------------------------------------------------------------


def test_image_over_pixel_limit_names_dimensions(root: Path) -> None:
    f = root / "wide.png"
    f.write_bytes(png_bytes((300, 200)))
    small = IntakeSettings(allowed_roots=[root], max_image_pixels=50_000)
    media = media_from_path(str(f), small)  # reading does not decode; check_limits does
    with pytest.raises(LimitExceeded) as e:
        check_limits(media, small)
    assert str(e.value) == "image is 300x200 (60,000 pixels), the limit is 50,000 pixels: downscale it or pass a region"


def test_bomb_header_is_caught_before_decoding(settings: IntakeSettings) -> None:
    # 8000x8000 = 64 MP: over our 50 MP default, under Pillow's own bomb threshold
    media = Media.from_bytes(png_claiming(8000, 8000))
    with pytest.raises(LimitExceeded, match=r"image is 8000x8000 \(64.0 megapixels\), the limit is 50.0 megapixels"):
        check_limits(media, settings)
    # 100000x100000: so large that Pillow itself refuses to open it
    media = Media.from_bytes(png_claiming(100_000, 100_000))
    with pytest.raises(LimitExceeded, match=r"megapixels, the limit is 50.0 megapixels"):
        check_limits(media, settings)


def test_image_over_byte_limit(root: Path) -> None:
    media = Media.from_bytes(png_bytes((64, 64)))
    with pytest.raises(LimitExceeded, match=r"image is .* the limit is 100 bytes: pass a region"):
        check_limits(media, IntakeSettings(allowed_roots=[root], max_image_bytes=100))


def test_truncated_image_is_unsupported(settings: IntakeSettings) -> None:
    buf = io.BytesIO()
    Image.effect_noise((256, 256), 64).convert("RGB").save(buf, "PNG")
    media = Media.from_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(UnsupportedMedia, match="does not decode .* truncated or corrupt"):
        check_limits(media, settings)


def test_png_structure_is_checked_without_decoding_its_pixels(settings: IntakeSettings) -> None:
    """Intake checks a PNG's chunks and CRCs (a damaged file is refused above) and leaves the pixels to
    the one decode where they are used; a stream that passes the structure but does not inflate is
    refused there (tests/test_ranking.py and test_local_via_mcp.py: "does not decode")."""
    image = Image.effect_noise((256, 256), 64).convert("RGB")
    check_limits(Media.from_bytes(png_that_does_not_inflate(image)), settings)  # structure intact: passes here
    damaged = bytearray(png_bytes((64, 64)))
    damaged[damaged.index(b"IDAT") + 6] ^= 0xFF  # a flipped byte: its chunk's CRC no longer matches
    with pytest.raises(UnsupportedMedia, match="does not decode .* truncated or corrupt"):
        check_limits(Media.from_bytes(bytes(damaged)), settings)


def test_long_video_names_duration_limit_and_way_out(root: Path) -> None:
    f = root / "clip.bin"
    f.write_bytes(mp4_with_text(["one", "two", "three"], seconds_per_slide=1.0, fps=2, size=(64, 48), with_audio=False))
    small = IntakeSettings(allowed_roots=[root], max_video_seconds=2)
    media = media_from_path(str(f), small)
    assert media.mime_type == "video/mp4" and media.modality is Modality.VIDEO
    with pytest.raises(LimitExceeded, match=r"^video is 3\.0 s, the limit is 2 s: trim it or pass a shorter clip$"):
        check_limits(media, small)
    check_limits(media, IntakeSettings(allowed_roots=[root], max_video_seconds=5))


def test_long_audio_names_duration_and_limit(settings: IntakeSettings) -> None:
    data = base64.b64encode(wav_tone(seconds=2.5)).decode()
    small = IntakeSettings(allowed_roots=settings.allowed_roots, max_audio_seconds=1.5)
    media = media_from_base64(data, small)
    assert media.modality is Modality.AUDIO
    with pytest.raises(LimitExceeded, match=r"^audio is 2\.5 s, the limit is 1\.5 s: trim it or pass a shorter clip$"):
        check_limits(media, small)
    check_limits(media, settings)


def test_corrupt_audio_is_unsupported(settings: IntakeSettings) -> None:
    wav = wav_tone(seconds=0.5)
    broken = wav[:12] + b"\xff" * 64  # RIFF/WAVE header, then garbage instead of fmt/data chunks
    with pytest.raises(UnsupportedMedia):
        check_limits(Media.from_bytes(broken), settings)


def test_pdf_page_limit(settings: IntakeSettings) -> None:
    seven = Media.from_bytes(pdf_with_text([f"page {i}" for i in range(7)]))
    with pytest.raises(LimitExceeded, match=r"^the PDF has 7 pages, the limit is 6: split it or pass only the pages you need$"):
        check_limits(seven, settings)
    check_limits(Media.from_bytes(pdf_with_text(["a", "b"])), settings)


def test_broken_pdf_is_unsupported(settings: IntakeSettings) -> None:
    with pytest.raises(UnsupportedMedia):
        check_limits(Media.from_bytes(b"%PDF-1.4\n garbage that is not a pdf body"), settings)


# -- modality -------------------------------------------------------------------------------


TOOLS = {Modality.IMAGE: "embed_image", Modality.AUDIO: "embed_audio", Modality.VIDEO: "embed_media", Modality.PDF: "embed_media"}


def test_wrong_modality_names_what_takes_it_when_the_caller_says() -> None:
    wav = Media.from_bytes(wav_tone(seconds=0.1))
    with pytest.raises(UnsupportedMedia, match=r"^embed_image got audio/wav: use embed_audio$"):
        require_modality(wav, {Modality.IMAGE}, "embed_image", elsewhere=TOOLS)
    png = Media.from_bytes(png_bytes())
    with pytest.raises(UnsupportedMedia, match=r"^embed_media got image/png: use embed_image$"):
        require_modality(png, {Modality.VIDEO, Modality.PDF}, "embed_media", elsewhere=TOOLS)
    with pytest.raises(UnsupportedMedia, match=r"^embed_audio got application/pdf: use embed_media$"):
        require_modality(Media.from_bytes(pdf_with_text(["x"])), {Modality.AUDIO}, "embed_audio", elsewhere=TOOLS)
    require_modality(png, {Modality.IMAGE}, "embed_image")  # the right one passes
    with pytest.raises(UnsupportedMedia, match=r"^the screenshot got audio/wav: the screenshot takes image$"):
        require_modality(wav, {Modality.IMAGE}, "the screenshot")  # intake itself knows no tool names


def test_wrong_modality_when_the_tool_itself_is_the_suggestion() -> None:
    png = Media.from_bytes(png_bytes())
    with pytest.raises(UnsupportedMedia, match=r"^embed_image got image/png: embed_image takes audio$"):
        require_modality(png, [Modality.AUDIO], "embed_image", elsewhere=TOOLS)
