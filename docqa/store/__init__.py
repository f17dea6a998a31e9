"""The vector + page store (`Store` protocol) and its two implementations.

- `EdgeStore`: Qdrant Edge, the Qdrant engine in-process (embedded default).
- `ClientStore`: qdrant-client against a Qdrant server or cluster URL; its local mode
  (`:memory:` or a path) is the test double of the same code path.

Both are one `QdrantStore` over a small backend seam, so the visibility protocol below is
written once:

1. `put_document(doc)` with `status=indexing` and a fresh `generation` G;
2. `add_pages` / `add_chunks` for G, stored invisible (`visible=false`), in batches;
3. `publish(doc)`: delete the document's points of every other generation, flip G to
   visible in one filtered payload update, write the record `ready` (`partial` when some
   pages could not be read: the record lists them, and holds exactly the stored pages).

Search only ever sees `visible=true` points, so a document is never half visible; after a
crash the record is still `indexing`, and the next ingest run discards G and redoes the file.
"""

from __future__ import annotations

from docqa.store.base import Store, StoreLockedError
from docqa.store.factory import open_store

__all__ = ["Store", "StoreLockedError", "open_store"]
