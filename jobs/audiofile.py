"""What an uploaded file really is, read from its bytes (never from its name or the browser's
Content-Type): format sniffing by magic bytes, a metadata probe with mutagen (no full decode),
the refusal of what AudioShake cannot take (5.1/multichannel, DRM, formats it does not accept),
whether an MP4/MOV has a video track (`mp4` output needs one: `audio_only`), and name
sanitisation (waveform peaks: `jobs.peaks`; leading zero-byte padding: `jobs.padding`).

Accepted input (AudioShake's formats page): WAV, AIFF, FLAC, MP3, AAC (ADTS .aac, .m4a), and
MP4/MOV video with an audio track; mono or stereo; up to 192 kHz; no DRM.
"""

import math
import struct
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import mutagen
from mutagen.aac import AAC
from mutagen.aiff import AIFF
from mutagen.flac import FLAC
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4
from mutagen.wave import WAVE

SUPPORTED_FORMATS = ("wav", "aiff", "flac", "mp3", "aac", "m4a", "mp4", "mov")
FORMAT_LABELS = {
    "wav": "WAV",
    "aiff": "AIFF",
    "flac": "FLAC",
    "mp3": "MP3",
    "aac": "AAC",
    "m4a": "M4A",
    "mp4": "MP4",
    "mov": "MOV",
}
# The extensions a download may keep for each format; the first one is added otherwise.
FORMAT_EXTENSIONS = {
    "wav": (".wav", ".wave", ".bwf"),
    "aiff": (".aiff", ".aif", ".aifc"),
    "flac": (".flac",),
    "mp3": (".mp3",),
    "aac": (".aac", ".adts"),
    "m4a": (".m4a", ".m4b", ".mp4"),
    "mp4": (".mp4", ".m4v", ".m4a"),
    "mov": (".mov", ".qt"),
}
CONTENT_TYPES = {
    "wav": "audio/wav",
    "aiff": "audio/aiff",
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "aac": "audio/aac",
    "m4a": "audio/mp4",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
}
ACCEPTED_TEXT = "WAV, AIFF, FLAC, MP3, AAC/M4A, or MP4/MOV video with an audio track"
MAX_CHANNELS = 2
MAX_SAMPLE_RATE = 192_000
HEAD_BYTES = 64 * 1024
_MUTAGEN = {"wav": WAVE, "aiff": AIFF, "flac": FLAC, "mp3": MP3, "aac": AAC}
_QUICKTIME_ATOMS = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")
_DRM_SAMPLE_ENTRIES = ("drms", "drmi", "enca", "encv", "encs", "enct", "encf", "encm")


class AudioRejected(ValueError):
    """The file is not something AudioShake can process. `message` is for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class AudioInfo:
    format: str
    duration_seconds: float | None
    channels: int | None
    sample_rate: int | None
    codec: str = ""
    has_video: bool = False

    @property
    def label(self) -> str:
        return FORMAT_LABELS.get(self.format, self.format.upper())


# Sniffing ---------------------------------------------------------------------------------


def _id3_size(head: bytes) -> int:
    """Length of a leading ID3v2 tag (header, body and optional footer)."""
    if len(head) < 10 or head[:3] != b"ID3":
        return 0
    body = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]
    footer = 10 if head[5] & 0x10 else 0
    return 10 + body + footer


def _frame_sync(data: bytes) -> str | None:
    """'mp3' for an MPEG-1/2/2.5 Layer III frame header, 'aac' for an ADTS header."""
    if len(data) < 4 or data[0] != 0xFF or data[1] & 0xE0 != 0xE0:
        return None
    if data[1] & 0xF6 == 0xF0:  # 12 sync bits, layer 00: ADTS
        return "aac"
    version, layer = (data[1] >> 3) & 0x03, (data[1] >> 1) & 0x03
    bitrate, rate = data[2] >> 4, (data[2] >> 2) & 0x03
    if version == 1 or layer == 0 or bitrate in (0, 15) or rate == 3:
        return None
    return "mp3" if layer == 1 else "mp2"


def _mp4_brand(head: bytes) -> str | None:
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"qt  ":
            return "mov"
        if brand == b"M4P ":
            return "m4p"
        if brand in (b"M4A ", b"M4B "):
            return "m4a"
        return "mp4"
    if len(head) >= 8 and head[4:8] in _QUICKTIME_ATOMS:
        return "mov"
    return None


def _describe_unknown(head: bytes) -> str:
    for magic, what in (
        (b"%PDF", "a PDF document"),
        (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
        (b"\x89PNG", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"MZ", "a Windows program"),
        (b"\x7fELF", "a program"),
    ):
        if head.startswith(magic):
            return what
    sample = head[:4096]
    if sample and b"\x00" not in sample:
        try:
            sample.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(sample) - 4:  # not just a character cut at the sample's end
                return ""
        return "a text file"
    return ""


def sniff(fileobj: BinaryIO) -> str:
    """The container format from the first bytes: one of SUPPORTED_FORMATS, or AudioRejected
    with a message that says what the file is instead."""
    fileobj.seek(0)
    head = fileobj.read(HEAD_BYTES)
    if not head:
        raise AudioRejected("The file is empty (0 bytes).")
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        raise AudioRejected("This is an AVI video; AudioShake takes video only as MP4 or MOV.")
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        raise AudioRejected(
            f"This is Ogg audio (Vorbis/Opus), which AudioShake does not accept. "
            f"Convert it to {ACCEPTED_TEXT}."
        )
    if head[:4] == b"\x1a\x45\xdf\xa3":
        raise AudioRejected("This is a WebM/Matroska file; AudioShake takes video as MP4 or MOV.")
    brand = _mp4_brand(head)
    if brand == "m4p":
        raise AudioRejected("This is DRM-protected iTunes audio (M4P); AudioShake cannot read it.")
    if brand:
        return brand
    offset = _id3_size(head)
    if offset:
        fileobj.seek(offset)
        after = fileobj.read(16)
        if after[:4] == b"fLaC":
            return "flac"
        # Some encoders pad between the tag and the first frame: look a little further.
        fileobj.seek(offset)
        window = fileobj.read(8192)
        for i in range(max(len(window) - 3, 0)):
            kind = _frame_sync(window[i : i + 4])
            if kind in ("mp3", "aac"):
                return kind
        raise AudioRejected("The file has an ID3 tag but no MP3 audio after it.")
    kind = _frame_sync(head)
    if kind in ("mp3", "aac"):
        return kind
    if kind == "mp2":
        raise AudioRejected("This is MPEG Layer I/II audio (MP2); convert it to MP3 or WAV.")
    stripped = head.lstrip(b"\x00")
    if stripped and len(stripped) < len(head) and _frame_sync(stripped) == "mp3":
        raise AudioRejected(
            f"This MP3 starts with {len(head) - len(stripped)} bytes of zero padding, which "
            "AudioShake fails to process. Re-export it (or convert it to WAV) and upload again."
        )
    what = _describe_unknown(head) or "no audio or video format we recognise"
    raise AudioRejected(
        f"Not an audio or video file: the content looks like {what} (the file name's "
        f"extension does not count). Upload {ACCEPTED_TEXT}."
    )


# MP4 / MOV -------------------------------------------------------------------------------

_MP4_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"mvex", b"sinf"}


def _atoms(fileobj: BinaryIO, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(name, payload start, atom end) of the boxes between start and end."""
    pos = start
    while pos + 8 <= end:
        fileobj.seek(pos)
        header = fileobj.read(16)
        if len(header) < 8:
            return
        size, name = struct.unpack(">I4s", header[:8])
        payload = pos + 8
        if size == 1 and len(header) == 16:
            size = struct.unpack(">Q", header[8:16])[0]
            payload = pos + 16
        elif size == 0:
            size = end - pos
        if size < 8 or pos + size > end:
            return
        yield name, payload, pos + size
        pos += size


def _mp4_protection(fileobj: BinaryIO, size: int) -> str | None:
    """The name of the box that shows encryption (a `pssh` in the movie box, a protected
    sample entry such as `enca`/`drms`, or a `sinf` scheme box), else None."""

    def walk(start: int, end: int, depth: int) -> str | None:
        if depth > 8:
            return None
        for name, payload, atom_end in _atoms(fileobj, start, end):
            text = name.decode("latin-1")
            if text in ("pssh", "sinf", "schm", "tenc", *_DRM_SAMPLE_ENTRIES):
                return text
            if name in _MP4_CONTAINERS:
                found = walk(payload, atom_end, depth + 1)
            elif name == b"stsd":  # full box + entry count, then sample entries
                found = walk(payload + 8, atom_end, depth + 1)
            elif name in (b"mp4a", b"alac", b"lpcm", b"sowt", b"twos", b"ac-3", b"ec-3"):
                found = walk(payload + 28, atom_end, depth + 1)  # audio sample entry fields
            else:
                found = None
            if found:
                return found
        return None

    return walk(0, size, 0)


def _mp4_has_video(fileobj: BinaryIO, size: int) -> bool:
    """Whether a track's media handler is `vide` (moov > trak > mdia > hdlr: a version and
    flags word, a pre-defined or component-type word, then the handler type). Cover art lives
    in the metadata, not in a track, so it does not count."""
    for name, payload, end in _atoms(fileobj, 0, size):
        if name != b"moov":
            continue
        for trak, trak_start, trak_end in _atoms(fileobj, payload, end):
            if trak != b"trak":
                continue
            for mdia, mdia_start, mdia_end in _atoms(fileobj, trak_start, trak_end):
                if mdia != b"mdia":
                    continue
                for hdlr, hdlr_start, _hdlr_end in _atoms(fileobj, mdia_start, mdia_end):
                    if hdlr == b"hdlr":
                        fileobj.seek(hdlr_start + 8)
                        if fileobj.read(4) == b"vide":
                            return True
    return False


def audio_only(fmt: str, has_video: bool | None) -> bool:
    """Whether a source surely has no video (so `mp4` output, the stem put back into the
    source's video, cannot be made): known from the probe, else from the format (a URL's
    extension; an MP4/MOV of unknown content may have one)."""
    if has_video is not None:
        return not has_video
    return fmt in ("wav", "aiff", "flac", "mp3", "aac", "m4a")


# Probe -----------------------------------------------------------------------------------


def probe(path: Path) -> AudioInfo:
    """Format, duration, channels and sample rate of the file at `path`, read from its
    headers. Raises AudioRejected (with a message for the user) for anything AudioShake
    would refuse."""
    with open(path, "rb") as fileobj:
        fmt = sniff(fileobj)
        size = fileobj.seek(0, 2)
        mp4_family = fmt in ("m4a", "mp4", "mov")
        protection = _mp4_protection(fileobj, size) if mp4_family else None
        has_video = mp4_family and not protection and _mp4_has_video(fileobj, size)
    label = FORMAT_LABELS[fmt]
    if protection:
        raise AudioRejected(
            f"This {label} file is DRM-protected or encrypted ('{protection}' box); "
            "AudioShake cannot process protected media."
        )
    try:
        info = (MP4 if fmt in ("m4a", "mp4", "mov") else _MUTAGEN[fmt])(path).info
    except (mutagen.MutagenError, ValueError, struct.error, OSError) as exc:
        raise AudioRejected(
            f"This looks like {label} but its headers cannot be read ({_short(exc)}): the file "
            "may be damaged or truncated."
        ) from exc
    except RecursionError:  # boxes inside boxes thousands deep: mutagen recurses into each
        raise AudioRejected(
            f"This {label} file cannot be read: its boxes are nested too deeply for a real "
            "audio or video file. Export it again from your audio software."
        ) from None
    codec = str(getattr(info, "codec", "") or "")
    if fmt in ("m4a", "mp4", "mov"):
        if codec.split(".")[0] in _DRM_SAMPLE_ENTRIES:
            raise AudioRejected(
                f"This {label} file is DRM-protected ('{codec}'); AudioShake cannot process it."
            )
        if not codec:
            raise AudioRejected(f"This {label} file has no audio track.")
    channels = int(getattr(info, "channels", 0) or 0) or None
    sample_rate = int(getattr(info, "sample_rate", 0) or 0) or None
    if channels and channels > MAX_CHANNELS:
        layout = {6: " (5.1 surround)", 8: " (7.1 surround)"}.get(channels, "")
        raise AudioRejected(
            f"This {label} file has {channels} channels{layout}. AudioShake takes mono or "
            "stereo only: mix it down to stereo and upload again."
        )
    if sample_rate and sample_rate > MAX_SAMPLE_RATE:
        raise AudioRejected(
            f"The sample rate is {sample_rate / 1000:g} kHz; AudioShake accepts up to 192 kHz."
        )
    if fmt in ("wav", "aiff"):
        _check_pcm_complete(path, fmt, label)
    length = float(getattr(info, "length", 0) or 0)
    duration = round(length, 3) if length > 0 and math.isfinite(length) else None
    if duration is None and fmt not in ("m4a", "mp4", "mov"):  # fragmented MP4s report 0
        raise AudioRejected(f"This {label} file contains no audio (its length is 0 seconds).")
    return AudioInfo(fmt, duration, channels, sample_rate, codec, has_video)


def pcm_layout(fileobj: BinaryIO, fmt: str) -> tuple[int, int, int, bool, bool, int]:
    """(data offset, data length, bytes per sample, is float, is big-endian, channels) of a
    PCM WAV/AIFF file."""
    big = fmt == "aiff"
    order = ">" if big else "<"
    fileobj.seek(12)
    width = channels = 0
    is_float = False
    while True:
        header = fileobj.read(8)
        if len(header) < 8:
            raise ValueError("no sample data")
        name, size = struct.unpack(f"{order}4sI", header)
        start = fileobj.tell()
        if name == b"fmt ":
            tag, channels, _rate, _bps, _align, bits = struct.unpack("<HHIIHH", fileobj.read(16))
            if tag == 0xFFFE and size >= 40:
                fileobj.seek(start + 24)
                tag = struct.unpack("<H", fileobj.read(2))[0]
            if tag not in (1, 3):
                raise ValueError("compressed WAV")
            is_float, width = tag == 3, bits // 8
        elif name == b"COMM":
            channels, _frames, bits = struct.unpack(">hIh", fileobj.read(8))
            fileobj.read(10)
            compression = fileobj.read(4) if size >= 22 else b"NONE"
            if compression not in (b"NONE", b"twos", b"sowt", b"fl32", b"FL32"):
                raise ValueError("compressed AIFF")
            is_float = compression in (b"fl32", b"FL32")
            width = 4 if is_float else bits // 8
            big = compression != b"sowt"
        elif name in (b"data", b"SSND"):
            offset = start
            if name == b"SSND":
                offset += 8 + struct.unpack(">I", fileobj.read(4))[0]
                size -= 8
            if not (width and channels):
                raise ValueError("sample data before the format chunk")
            return offset, size, width, is_float, big, channels
        fileobj.seek(start + size + (size & 1))


def _check_pcm_complete(path: Path, fmt: str, label: str) -> None:
    """A WAV/AIFF whose header announces more sample data than the file holds was cut short
    (an interrupted copy or export)."""
    with open(path, "rb") as fileobj:
        try:
            offset, declared, *_ = pcm_layout(fileobj, fmt)
        except (ValueError, struct.error):
            return  # compressed or unusual layout: mutagen's reading stands
        present = max(fileobj.seek(0, 2) - offset, 0)
    if declared and not present:
        raise AudioRejected(f"This {label} file contains no audio: its sample data is missing.")
    if present < declared * 0.99:
        raise AudioRejected(
            f"This {label} file is truncated: its header announces {declared} bytes of audio "
            f"but only {present} are present. Export or copy it again."
        )


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:120]


# Names -----------------------------------------------------------------------------------

_WINDOWS_RESERVED = str.maketrans(dict.fromkeys('<>:"|?*', "_"))
MAX_NAME_LENGTH = 150


def sanitise_name(name: str, *, max_length: int = MAX_NAME_LENGTH) -> str:
    """A name taken from an uploaded file name, safe to show and to offer as a download name:
    no directories (only the part after the last slash), no control or invisible formatting
    characters (NUL, right-to-left override, zero-width), no leading dots, collapsed
    whitespace, and at most `max_length` characters keeping the extension."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = " ".join(name.split()).strip(" .")
    return _fit(name, max_length) if name else "untitled"


def clean_display_name(name: str, *, max_length: int = MAX_NAME_LENGTH) -> str:
    """A display name someone typed, kept as typed (slashes, dots and markup included: it is
    text, escaped when shown, and `download_name` makes the file name safe). Control and
    invisible formatting characters (bidi overrides, zero-width) are dropped, whitespace runs
    become one space, and the result has at most `max_length` characters keeping the
    extension. Returns "" when nothing visible is left."""
    name = " ".join(unicodedata.normalize("NFC", name or "").split())
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = " ".join(name.split())
    return _fit(name, max_length) if len(name) > max_length else name


def _fit(name: str, max_length: int) -> str:
    """`name` at most `max_length` characters, keeping a short alphanumeric extension and no
    spaces or dots at the end of the stem."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) > 10 or not ext.isalnum():
        stem, ext = name, ""
    room = max_length - (len(ext) + 1 if ext else 0)
    stem = stem[:room].rstrip(" .") or "untitled"
    return f"{stem}.{ext}" if ext else stem


def download_name(name: str, fmt: str) -> str:
    """The file name offered on download: the display name with its slashes as hyphens (a
    display name may contain them; a file name is never a path), sanitised, with the
    extension of the format the file really is and no characters Windows refuses."""
    flat = (name or "").replace("/", "-").replace("\\", "-")
    clean = sanitise_name(flat).translate(_WINDOWS_RESERVED)
    extensions = FORMAT_EXTENSIONS.get(fmt)
    if extensions and not clean.lower().endswith(extensions):
        clean = f"{clean}{extensions[0]}"
    return clean


# Mirrored outputs ---------------------------------------------------------------------------

# What sniff() may find for each audio output format AudioShake offers.
_OUTPUT_AUDIO = {
    "wav": ("wav",),
    "aiff": ("aiff",),
    "flac": ("flac",),
    "mp3": ("mp3",),
    "mp4": ("mp4", "m4a", "mov"),
}
_OUTPUT_TEXT = ("json", "srt", "txt")


def output_content_problem(fileobj: BinaryIO, fmt: str) -> str | None:
    """Why a downloaded output is not what its format says (an HTML error page kept as `.wav`,
    say), or None. Audio formats by their magic bytes (`sniff`); json/srt/txt must be UTF-8 text
    (json starting with an object or array); formats we do not know are not judged."""
    fmt = fmt.lower()
    fileobj.seek(0)
    head = fileobj.read(HEAD_BYTES)
    fileobj.seek(0)
    label = FORMAT_LABELS.get(fmt, fmt.upper())
    if fmt in _OUTPUT_AUDIO:
        try:
            found = sniff(fileobj)
        except AudioRejected:
            what = (
                "an HTML page"
                if _looks_like_html(head)
                else _describe_unknown(head) or "no audio format we recognise"
            )
            return f"the file AudioShake's link gave is not {label} audio (it looks like {what})"
        finally:
            fileobj.seek(0)
        if found not in _OUTPUT_AUDIO[fmt]:
            shown = FORMAT_LABELS.get(found, found.upper())
            return f"the file AudioShake's link gave is {shown}, not {label}"
        return None
    if fmt in _OUTPUT_TEXT:
        what = _describe_unknown(head)
        if not head.strip():
            return f"the file AudioShake's link gave is empty, not {label}"
        if what != "a text file":
            looks = what or "binary data"
            return f"the file AudioShake's link gave is not {label} text (it looks like {looks})"
        first = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
        if fmt == "json" and first not in (b"{", b"["):
            return "the file AudioShake's link gave is not JSON"
        if _looks_like_html(head):
            return f"the file AudioShake's link gave is an HTML page, not {label}"
        return None
    return None


def _looks_like_html(head: bytes) -> bool:
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:15].lower()
    return start.startswith((b"<!doctype html", b"<html"))
