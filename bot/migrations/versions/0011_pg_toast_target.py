"""PostgreSQL: a paper's row keeps most of its values in the row, where they fit in half a
page (``toast_tuple_target = 4080``).

At the default target (about 2 kB) the search vector, kept in the row since 0010, left room
for little else: PostgreSQL moved the raw item, the abstract, the vocabulary words and then,
one by one, small values such as the AI summary and the thumbnail's link into the TOAST table,
5.7 of them a paper (5k synthetic papers), each an extra row there and an entry in its index.
With half a page allowed, each value is compressed first and then only the raw item goes out,
and for about six papers in ten the vocabulary words too: 1.6 TOAST rows a paper, the
database 2% larger (two rows to a page), the server's CPU in a first load a median 19 µs a
paper less (30k papers, nine rounds side by side; loads a median 3% faster, within the
machine's noise), a second load unchanged.

Papers stored before keep their layout until they change; no row is rewritten here.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# Half of an 8 kB page less the page's header: two rows to a page.
TOAST_TUPLE_TARGET = 4080


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE papers SET (toast_tuple_target = {TOAST_TUPLE_TARGET})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE papers RESET (toast_tuple_target)")
