"""Where frames come from: labelled datasets, video files and frame folders."""

from streamproc.sources.dataset import Clip, find_clips, load_labels, open_split
from streamproc.sources.frames import read_frames

__all__ = ["Clip", "find_clips", "load_labels", "open_split", "read_frames"]
