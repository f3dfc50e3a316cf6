"""Search as people type: a prefix index, CJK characters and emoji as words; and channel
health that names the process which reported it.

Revision ID: 0003
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

# Frozen copies of core/search_text.py's ranges (a migration must not change with the code).
_CJK = ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7AF), (0xF900, 0xFAFF),
        (0xFF66, 0xFF9F), (0x20000, 0x2FFFF))
_SYMBOLS = ((0x2600, 0x27BF), (0x1F000, 0x1FAFF))

_SQLITE_TRIGGERS = ("message_fts_ai", "message_fts_ad", "message_fts_au")


def _sqlite_fts(expr: str, prefix: str) -> None:
    """(Re)create the FTS5 table and its triggers over ``expr(text)``, and fill it."""
    for name in _SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS message_fts")
    op.execute(f"CREATE VIRTUAL TABLE message_fts USING fts5(text, content='message', content_rowid='id'{prefix})")
    new, old = expr.format("new.text"), expr.format("old.text")
    op.execute(f"""CREATE TRIGGER message_fts_ai AFTER INSERT ON message BEGIN
        INSERT INTO message_fts(rowid, text) VALUES (new.id, {new}); END""")
    op.execute(f"""CREATE TRIGGER message_fts_ad AFTER DELETE ON message BEGIN
        INSERT INTO message_fts(message_fts, rowid, text) VALUES ('delete', old.id, {old}); END""")
    op.execute(f"""CREATE TRIGGER message_fts_au AFTER UPDATE OF text ON message BEGIN
        INSERT INTO message_fts(message_fts, rowid, text) VALUES ('delete', old.id, {old});
        INSERT INTO message_fts(rowid, text) VALUES (new.id, {new}); END""")
    op.execute(f"INSERT INTO message_fts(rowid, text) SELECT id, {expr.format('text')} FROM message")


def _pg_between(ranges: tuple[tuple[int, int], ...]) -> str:
    return " OR ".join(f"cp BETWEEN {a} AND {b}" for a, b in ranges)


def _pg_class() -> str:
    def esc(cp: int) -> str:
        return f"\\u{cp:04x}" if cp <= 0xFFFF else f"\\U{cp:08x}"
    return "".join(f"{esc(a)}-{esc(b)}" for a, b in _CJK + _SYMBOLS) + "\\u200d\\ufe0f"


def _pg_function() -> str:
    # The same spelling as search_text.index_text: CJK characters spaced out, emoji as u<hex>.
    return f"""CREATE OR REPLACE FUNCTION tray_index_text(t text) RETURNS text
        LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$
        DECLARE res text := ''; ch text; cp int;
        BEGIN
          IF t IS NULL THEN RETURN ''; END IF;
          IF t !~ '[{_pg_class()}]' THEN RETURN t; END IF;
          FOREACH ch IN ARRAY regexp_split_to_array(t, '') LOOP
            cp := ascii(ch);
            IF cp IN (8205, 65039) OR cp BETWEEN 127995 AND 127999 THEN res := res || ' ';
            ELSIF {_pg_between(_SYMBOLS)} THEN res := res || ' u' || to_hex(cp) || ' ';
            ELSIF {_pg_between(_CJK)} THEN res := res || ' ' || ch || ' ';
            ELSE res := res || ch;
            END IF;
          END LOOP;
          RETURN res;
        END $fn$"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # tray_index_text is registered on every connection by core/db.py.
        # A prefix index per length 2-6: a half-typed word walks one doclist newest first and
        # stops at the limit (without one FTS5 merges every matching term's postings:
        # "orde*" 7 ms at 70k matches, 0.1 ms with it; the index grows ~5x, ~+14 % store).
        _sqlite_fts("tray_index_text({})", ", prefix='2 3 4 5 6'")
    else:
        op.execute(_pg_function())
        op.execute("DROP INDEX IF EXISTS ix_message_fts")
        op.execute("CREATE INDEX ix_message_fts ON message USING gin (to_tsvector('simple', tray_index_text(text)))")
    # Plain ALTER TABLE (no batch copy): other tables' foreign keys point at channel.
    op.add_column('channel', sa.Column('health_by', sa.String(), nullable=False, server_default=''))
    op.add_column('channel', sa.Column('health_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column('channel', 'health_at')
    op.drop_column('channel', 'health_by')
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_fts("{}", "")
    else:
        op.execute("DROP INDEX IF EXISTS ix_message_fts")
        op.execute("CREATE INDEX ix_message_fts ON message USING gin (to_tsvector('simple', text))")
        op.execute("DROP FUNCTION IF EXISTS tray_index_text(text)")
