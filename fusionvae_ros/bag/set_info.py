"""The per-set record of a demo bag: which cameras published which view of which ground truth, and when.

make-bag writes one std_msgs/String on /fusionvae/set_info per view set, holding JSON such as
``{"set": 7, "stamp_ns": 1700000000700000000, "dataset_index": 123, "k": 2,
"views": {"/camera_0/image_raw": 1700000000700412345, "/camera_2/image_raw": 1700000000704102030}}``:
``stamp_ns`` is the header stamp of the set's /ground_truth/image message and ``views`` maps every camera that
published (dropped frames are absent, so K = len(views)) to the header stamp of its view. The node stamps a
fused set with its newest view stamp, which is how score finds the set of every output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SetInfo:
    """One view set: id, ground-truth stamp, dataset index and the header stamp of each published view."""

    set_id: int
    stamp_ns: int
    dataset_index: int
    view_stamps_ns: dict[str, int]

    @property
    def k(self) -> int:
        """Number of cameras that published a view of this set."""
        return len(self.view_stamps_ns)

    def to_json(self) -> str:
        """The JSON text stored in the set-info message."""
        return json.dumps(
            {
                "set": self.set_id,
                "stamp_ns": self.stamp_ns,
                "dataset_index": self.dataset_index,
                "k": self.k,
                "views": self.view_stamps_ns,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> SetInfo:
        """Parse a set-info message; raises ValueError naming the field that is missing or malformed."""
        try:
            record: Any = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"set info is not JSON ({error})") from None
        if not isinstance(record, dict):
            raise ValueError("set info must be a JSON object")
        for field in ("set", "stamp_ns", "dataset_index"):
            if not isinstance(record.get(field), int):
                raise ValueError(f"set info field '{field}' must be an integer, got {record.get(field)!r}")
        views = record.get("views")
        if not isinstance(views, dict) or not all(isinstance(stamp, int) for stamp in views.values()):
            raise ValueError(f"set info field 'views' must map topic names to integer stamps, got {views!r}")
        return cls(record["set"], record["stamp_ns"], record["dataset_index"], dict(views))
