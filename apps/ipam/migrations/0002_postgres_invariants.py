"""PostgreSQL-only guarantees for the block tree, whatever the application does:

- active siblings never overlap (an exclusion constraint with GiST inet_ops);
- a block always lies inside its parent, and nothing stays active under a released block (a trigger);
- a GiST index on every row's network for "who held this address" and search.

SQLite (the embedded default) relies on the services' checks under its database-wide write lock.
"""
from django.db import migrations

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS btree_gist",
    """ALTER TABLE ipam_block ADD CONSTRAINT ipam_block_active_siblings_disjoint
       EXCLUDE USING gist ((coalesce(parent_id, 0)) WITH =, network inet_ops WITH &&) WHERE (released_at IS NULL)""",
    "CREATE INDEX ipam_block_network_gist ON ipam_block USING gist (network inet_ops)",
    """CREATE FUNCTION ipam_block_check_tree() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        parent_network cidr;
        parent_released timestamptz;
    BEGIN
        IF NEW.parent_id IS NOT NULL THEN
            SELECT network, released_at INTO parent_network, parent_released FROM ipam_block WHERE id = NEW.parent_id;
            IF NOT (parent_network >>= NEW.network) THEN
                RAISE EXCEPTION 'IP block % does not lie inside its parent %', NEW.network, parent_network
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'ipam_block_inside_parent';
            END IF;
            IF NEW.released_at IS NULL AND parent_released IS NOT NULL THEN
                RAISE EXCEPTION 'IP block % cannot be active under the released block %', NEW.network, parent_network
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'ipam_block_parent_active';
            END IF;
        END IF;
        IF TG_OP = 'UPDATE' AND NEW.released_at IS NOT NULL AND OLD.released_at IS NULL
           AND EXISTS (SELECT 1 FROM ipam_block WHERE parent_id = NEW.id AND released_at IS NULL) THEN
            RAISE EXCEPTION 'IP block % still has active blocks inside it', NEW.network
                USING ERRCODE = 'check_violation', CONSTRAINT = 'ipam_block_release_empty';
        END IF;
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER ipam_block_check_tree BEFORE INSERT OR UPDATE OF network, parent_id, released_at ON ipam_block
       FOR EACH ROW EXECUTE FUNCTION ipam_block_check_tree()""",
]
BACKWARD = [
    "DROP TRIGGER IF EXISTS ipam_block_check_tree ON ipam_block",
    "DROP FUNCTION IF EXISTS ipam_block_check_tree()",
    "DROP INDEX IF EXISTS ipam_block_network_gist",
    "ALTER TABLE ipam_block DROP CONSTRAINT IF EXISTS ipam_block_active_siblings_disjoint",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql, params=None)
    return run


class Migration(migrations.Migration):
    dependencies = [("ipam", "0001_initial")]
    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
