"""Read a JPEG's frame size from its header without decoding it.

A frame window's JPEG payload is untrusted: a 200 KB image can declare 8192x8192 pixels
and decode to 200 MB. The wire decoder reads each image's size from its start-of-frame
marker first and refuses one that differs from the window's declared shape, so the
decoder never allocates more than the (bounded) declared shape.
"""

from __future__ import annotations

# Start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) share the range.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset(range(0xD0, 0xDA)) | {0x01}  # RSTn, SOI, EOI, TEM: no length


def jpeg_size(blob: bytes) -> tuple[int, int] | None:
    """(height, width) from the first start-of-frame marker, or None if the bytes are not
    a JPEG with one before the image data."""
    if len(blob) < 4 or blob[0] != 0xFF or blob[1] != 0xD8:
        return None
    pos = 2
    while pos + 4 <= len(blob):
        if blob[pos] != 0xFF:
            return None
        marker = blob[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        if marker == 0xDA:  # start of scan before any frame header
            return None
        length = int.from_bytes(blob[pos + 2 : pos + 4], "big")
        if marker in _SOF:
            if length < 8 or pos + 9 > len(blob):
                return None
            height = int.from_bytes(blob[pos + 5 : pos + 7], "big")
            width = int.from_bytes(blob[pos + 7 : pos + 9], "big")
            return height, width
        if length < 2:
            return None
        pos += 2 + length
    return None
